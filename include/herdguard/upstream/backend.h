// Where commands go to Redis, addressed by key: the caller names the key a command touches and
// which Redis answers is the backend's business. One Redis today (a connection, or a worker's
// shared connections); a cluster's slot owner later, behind the same calls, without the session
// or the herd engine changing.
//
// Two ways in:
//  - request(): herdguard's own commands (the herd engine's leases, reads and write-backs), as
//    arguments;
//  - pass(): a client's command on its way through, as the RESP bytes the client sent. Its key is
//    where Redis's key specs put it (resp/command_keys.h); a backend that routes by key looks it
//    up, one Redis does not need it and never pays for it.
//
// Each command's reply reaches its handler exactly once, on the backend's executor; replies to
// commands sent for the same key come back in the order sent (a cluster keeps that order except
// for commands that meet a redirect or a retry: docs/COMPATIBILITY.md).
#pragma once

#include <functional>
#include <initializer_list>
#include <span>
#include <string_view>

#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

// A client's command as the session hands it on. The views are valid during the call only.
struct passthrough {
    std::span<const std::string_view> argv;
    // The complete request as the client sent it; empty when it must be encoded from argv
    // (inline requests, or argv rewritten by herdguard).
    std::string_view raw;
    bool no_timeout = false;  // blocking commands and push streams: no command_timeout
};

class backend {
public:
    // `key`: the key the command is about ("" for none). `handler` may be discard_reply().
    virtual void request(std::string_view key, std::span<const std::string_view> argv, reply_handler* handler) = 0;
    void request(std::string_view key, std::initializer_list<std::string_view> argv, reply_handler* handler) {
        request(key, std::span<const std::string_view>(argv.begin(), argv.size()), handler);
    }
    // `handler` nullptr: no reply expected here (a client_link in relay mode streams replies to
    // its push sink).
    virtual void pass(const passthrough& cmd, reply_handler* handler) = 0;

protected:
    ~backend() = default;
};

// A backend that belongs to one client: its stateful modes (MULTI, WATCH, blocking commands,
// SUBSCRIBE, AUTH, SELECT of another db) live on it, so what the client sees of "its" connection
// is what Redis shows. Opened by the worker (worker::open_client_link); stopped by the client.
class client_link : public backend {
public:
    virtual void start() = 0;
    // Fails every request still waiting, synchronously, before returning.
    virtual void stop() = 0;
    // Relay mode: replies that match no queued request are pushes (pub/sub messages, MONITOR).
    virtual void set_push_sink(std::function<void(std::string_view)> sink) = 0;
    // Called once when the link breaks or is refused.
    virtual void set_on_closed(std::function<void(std::string_view reason)> cb) = 0;
    // True once it was established: a link that breaks after this has lost the client's state.
    virtual bool was_connected() const = 0;

protected:
    ~client_link() = default;
};

}  // namespace herdguard
