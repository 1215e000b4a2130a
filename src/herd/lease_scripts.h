// The Lua scripts of the lease (step 4) and the write-back (step 6). Each checks and acts in one
// step inside Redis, so no other instance's write can fall between a check and the act. The key
// names they take are lock_key(), negative_key() and failure_key() (read_through.h).
//
// Stale-set protection has two halves (docs/DESIGN.md, "Stale-set protection"):
//  - ACQUIRE, on winning the lease, returns the value key's state (`state_of`: its type, whether
//    it has a TTL, and the SHA-1 of a string's bytes), and the write-back scripts write only while
//    that state holds. So a client that gives the key a value during the load, through herdguard
//    or straight to Redis, keeps it: the load's write-back is refused (-1). A value that merely
//    expired meanwhile (it had a TTL, and now there is none) is not a client's write.
//  - A write that takes the value away or changes only its TTL (DEL, EXPIRE, GETDEL, RENAME, a
//    script...) leaves nothing to compare, so herdguard revokes the lease instead: it deletes the
//    lock before the write runs (herd_engine::revoke), and the write-back finds its token gone (0).
#pragma once

#include <string>
#include <string_view>

namespace herdguard::herd_detail {

// The state of a key as the write-back compares it: "none", a type other than string, or
// "p"/"t" (no TTL / a TTL) followed by the SHA-1 of the string's bytes.
inline constexpr std::string_view state_of_lua = R"lua(
local function state_of(key)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'string' then return t end
  local ttl = 'p'
  if redis.call('PTTL', key) ~= -1 then ttl = 't' end
  return ttl .. redis.sha1hex(redis.call('GET', key))
end
-- True when the key was written since `before` was taken; an expiry is not a write.
local function written_since(key, before)
  local now = state_of(key)
  if now == before then return false end
  return not (now == 'none' and string.sub(before, 1, 1) == 't')
end
)lua";

// KEYS: value, lock, negative, failure. ARGV: token, lock_ttl_ms, keep_ms, waited (1: this flight
// found the lease held before). Checks and takes the lease in one step, so a value written
// between our read and our SET NX is seen here and never loaded twice. A failure remembered only
// for the flights that waited on the failed load (marked '~', see remember_failure) is news to
// those flights alone; a new read loads again. A remembered 404 beside a value is older than the
// value (a 404's write-back deletes the value), so a client wrote it since: the 404 is forgotten.
// Won: {'won', state of the value key}, which the write-back is given.
inline const std::string acquire_script = std::string(state_of_lua) + R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {'neg'} end
  redis.call('DEL', KEYS[3])
end
local v = redis.call('GET', KEYS[1])
if v then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl == -1 or pttl > tonumber(ARGV[3]) then return {'hit', v} end
end
local f = redis.call('GET', KEYS[4])
if f then
  if string.sub(f, 1, 1) ~= '~' then return {'failed', f} end
  if ARGV[4] == '1' then return {'failed', string.sub(f, 2)} end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'won', state_of(KEYS[1])} end
return {'lost'}
)lua";

// KEYS: value, lock, negative. ARGV: token, value, px, state at ACQUIRE. Written only while our
// lease holds (else 0) and nobody wrote the key since (else -1, and the lease is released).
inline const std::string write_value_script = std::string(state_of_lua) + R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if written_since(KEYS[1], ARGV[4]) then
  redis.call('DEL', KEYS[2])
  return -1
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
)lua";

// KEYS: value, lock, negative. ARGV: token, px, state at ACQUIRE. The upstream says the key does
// not exist: the value goes, unless a client wrote one since (-1).
inline const std::string write_negative_script = std::string(state_of_lua) + R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if written_since(KEYS[1], ARGV[3]) then
  redis.call('DEL', KEYS[2])
  return -1
end
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[3], '1', 'PX', ARGV[2]) end
return 1
)lua";

// KEYS: lock, failure. ARGV: token, reason, px. Release, remembering the failure fleet-wide.
inline constexpr std::string_view write_failure_script = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1
)lua";

}  // namespace herdguard::herd_detail
