// The Redis-side identities (CLIENT ID, local address) of every shared connection, so that a
// client's CLIENT KILL cannot disconnect the connections other clients depend on. Shared by all
// workers, behind a mutex (written on connect and disconnect, read by CLIENT KILL only).
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

namespace herdguard {

class shared_connection_registry {
public:
    void add(std::int64_t id, const std::string& addr);
    void remove(std::int64_t id, const std::string& addr);
    bool has_id(std::int64_t id) const;
    bool has_addr(const std::string& addr) const;

private:
    mutable std::mutex mutex_;
    std::set<std::int64_t> ids_;
    std::set<std::string> addrs_;
};

}  // namespace herdguard
