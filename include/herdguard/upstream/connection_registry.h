// The Redis-side identities (CLIENT ID, local address) of every shared connection, so that a
// client's CLIENT KILL cannot disconnect the connections other clients depend on; and the CLIENT
// ID of every connection herdguard holds to Redis (shared and private), so that CLIENT LIST
// through herdguard shows its clients instead of its own connections (client_directory.h).
// Shared by all workers, behind a mutex (written on connect and disconnect, read by CLIENT KILL
// and CLIENT LIST only).
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

    // Any connection of herdguard's, shared or private.
    void add_own(std::int64_t id);
    void remove_own(std::int64_t id);
    std::set<std::int64_t> own_ids() const;

private:
    mutable std::mutex mutex_;
    std::set<std::int64_t> ids_;
    std::set<std::string> addrs_;
    std::set<std::int64_t> own_;
};

}  // namespace herdguard
