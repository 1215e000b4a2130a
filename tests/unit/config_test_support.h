// Helpers shared by the config unit tests: load YAML text or a command line and get either the
// config or the error message ("(accepted)" when there was none, so a wrongly accepted input
// shows in the failure), and a temporary config file.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "herdguard/config/config.h"

namespace herdguard::test {

// An environment for parse_command_line: these variables and no others.
class fake_env final : public env_lookup {
  public:
    fake_env(std::initializer_list<std::pair<const std::string, std::string>> vars) : vars_(vars) {}
    std::optional<std::string> get(const std::string& name) const override {
        auto it = vars_.find(name);
        if (it == vars_.end()) return std::nullopt;
        return it->second;
    }

  private:
    std::map<std::string, std::string> vars_;
};

inline std::string load_error(const std::string& yaml) {
    config cfg;
    auto error = load_config_text(yaml, "cfg.yaml", cfg);
    return error ? error->message : "(accepted)";
}

inline config load_ok(const std::string& yaml) {
    config cfg;
    auto error = load_config_text(yaml, "cfg.yaml", cfg);
    INFO((error ? error->message : ""));
    REQUIRE_FALSE(error);
    return cfg;
}

inline std::variant<command_line, config_error> run(std::vector<std::string> args, const fake_env& env) {
    std::vector<const char*> argv{"herdguard"};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(argv.size() - 1), argv.data(), &env);
}

inline std::string cli_error(std::vector<std::string> args, const fake_env& env = {}) {
    auto result = run(std::move(args), env);
    if (auto* error = std::get_if<config_error>(&result)) return error->message;
    return "(accepted)";
}

inline command_line cli_ok(std::vector<std::string> args, const fake_env& env = {}) {
    auto result = run(std::move(args), env);
    auto* error = std::get_if<config_error>(&result);
    INFO((error ? error->message : ""));
    REQUIRE_FALSE(error);
    return std::get<command_line>(result);
}

// A file under the temp directory, removed when the test ends.
class temp_file {
  public:
    explicit temp_file(const std::string& content) {
        static int counter = 0;
        path_ = std::filesystem::temp_directory_path() /
                ("herdguard-config-test-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter++) + ".yaml");
        std::ofstream(path_) << content;
    }
    ~temp_file() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    std::string path() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

}  // namespace herdguard::test
