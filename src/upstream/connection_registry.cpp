#include "herdguard/upstream/connection_registry.h"

namespace herdguard {

void shared_connection_registry::add(std::int64_t id, const std::string& addr) {
    std::lock_guard lock(mutex_);
    if (id >= 0) ids_.insert(id);
    if (!addr.empty()) addrs_.insert(addr);
}

void shared_connection_registry::remove(std::int64_t id, const std::string& addr) {
    std::lock_guard lock(mutex_);
    ids_.erase(id);
    addrs_.erase(addr);
}

bool shared_connection_registry::has_id(std::int64_t id) const {
    std::lock_guard lock(mutex_);
    return ids_.count(id) != 0;
}

bool shared_connection_registry::has_addr(const std::string& addr) const {
    std::lock_guard lock(mutex_);
    return addrs_.count(addr) != 0;
}

void shared_connection_registry::add_own(std::int64_t id) {
    std::lock_guard lock(mutex_);
    if (id > 0) own_.insert(id);
}

void shared_connection_registry::remove_own(std::int64_t id) {
    std::lock_guard lock(mutex_);
    own_.erase(id);
}

std::set<std::int64_t> shared_connection_registry::own_ids() const {
    std::lock_guard lock(mutex_);
    return own_;
}

}  // namespace herdguard
