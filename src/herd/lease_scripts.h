// The Lua scripts of the lease (step 4) and the write-back (step 6). Each checks and acts in one
// step inside Redis, so no other instance's write can fall between a check and the act. The key
// names they take are lock_key(), negative_key() and failure_key() (read_through.h).
#pragma once

#include <string_view>

namespace herdguard::herd_detail {

// KEYS: value, lock, negative, failure. ARGV: token, lock_ttl_ms, keep_ms, waited (1: this flight
// found the lease held before). Checks and takes the lease in one step, so a value written
// between our read and our SET NX is seen here and never loaded twice. A failure remembered only
// for the flights that waited on the failed load (marked '~', see remember_failure) is news to
// those flights alone; a new read loads again.
inline constexpr std::string_view acquire_script = R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 then return {'neg'} end
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
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'won'} end
return {'lost'}
)lua";

// KEYS: value, lock, negative. ARGV: token, value, px. Written only while our lease holds.
inline constexpr std::string_view write_value_script = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
)lua";

// KEYS: value, lock, negative. ARGV: token, px. The upstream says the key does not exist.
inline constexpr std::string_view write_negative_script = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
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
