-- jobq: the worker registry.

-- jobq_register_worker: a worker announces itself and its capabilities.
--   KEYS[1] the namespace prefix
--   ARGV[1] worker id   ARGV[2] registration JSON (capabilities)   ARGV[3] events cap
-- Returns: 'OK'
local function jobq_register_worker(keys, argv)
  local K = namespace_keys(keys[1])
  local worker_id, info, maxlen = argv[1], argv[2], argv[3]
  decode_worker(info)
  redis.call('HSET', K.workers, worker_id, info)
  redis.call('ZADD', K.workers_seen, now_ms(), worker_id)
  redis.call('SREM', K.workers_offline, worker_id)
  emit(K, maxlen, 'worker_connected', { 'worker_id', worker_id }, info)
  return 'OK'
end

-- jobq_deregister_worker: a worker leaves cleanly (after handing its jobs back).
--   KEYS[1] the namespace prefix
--   ARGV[1] worker id   ARGV[2] events cap   ARGV[3] reason
-- Returns: 1 if the worker was registered, else 0
local function jobq_deregister_worker(keys, argv)
  local K = namespace_keys(keys[1])
  local worker_id, maxlen = argv[1], argv[2]
  local removed = redis.call('HDEL', K.workers, worker_id)
  redis.call('ZREM', K.workers_seen, worker_id)
  redis.call('SREM', K.workers_offline, worker_id)
  if removed == 1 then
    emit(K, maxlen, 'worker_disconnected', { 'worker_id', worker_id },
      cjson.encode({ reason = argv[3] }))
  end
  return removed
end

redis.register_function('jobq_register_worker', jobq_register_worker)
redis.register_function('jobq_deregister_worker', jobq_deregister_worker)

-- jobq_key_names: the key names this library derives (for a test against jobq/keys.py).
--   KEYS[1] the namespace prefix
--   ARGV: none
-- Returns: a flat list of name, key
local function jobq_key_names(keys)
  local K = namespace_keys(keys[1])
  local reply = {}
  for name, key in pairs(K) do
    reply[#reply + 1] = name
    reply[#reply + 1] = key
  end
  return reply
end

redis.register_function{function_name='jobq_key_names', callback=jobq_key_names, flags={'no-writes'}}
