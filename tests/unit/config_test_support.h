// Helpers shared by the config unit tests: load YAML text or a command line and get either the
// config or the error message ("(accepted)" when there was none, so a wrongly accepted input
// shows in the failure).
#pragma once

#include <catch2/catch.hpp>

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

}  // namespace herdguard::test
