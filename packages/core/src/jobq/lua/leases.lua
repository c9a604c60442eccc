-- jobq: leases, heartbeats and housekeeping. There is no single reaper: every claim,
-- heartbeat and tick (any worker or API process) reclaims expired leases and promotes
-- due delayed jobs, a bounded number per call.

-- jobq_heartbeat: a worker is alive; renew the leases of all the jobs it holds.
--   KEYS[1] the namespace prefix
--   ARGV[1] worker id   ARGV[2] lease length (ms)   ARGV[3] events cap
--   ARGV[4] retention (ms)   ARGV[5..] pairs: job id, token
-- Returns: a flat list of job id, reason for each held job the worker must stop:
--   'cancelled', 'timeout' (per-job timeout passed; the attempt was failed) or
--   'lease_lost' (expired and re-queued, or re-claimed elsewhere)
local function jobq_heartbeat(keys, argv)
  local K = namespace_keys(keys[1])
  local worker_id, maxlen = argv[1], argv[3]
  local lease_ms, retention_ms = to_int(argv[2], 'lease_ms'), to_int(argv[4], 'retention_ms')
  local now = now_ms()
  redis.call('ZADD', K.workers_seen, now, worker_id)
  if redis.call('SREM', K.workers_offline, worker_id) == 1 then
    emit(K, maxlen, 'worker_connected', { 'worker_id', worker_id }, cjson.encode({ reconnected = true }))
  end
  local lost = {}
  for i = 5, #argv, 2 do
    local id, token = argv[i], argv[i + 1]
    local job = load_job(K, id)
    local held = job ~= nil and job.token == token
      and (job.status == 'assigned' or job.status == 'running')
    if held and tonumber(job.deadline or '') ~= nil and now > tonumber(job.deadline) then
      fail_attempt(K, id, job, 'timed out after ' .. job.timeout_ms .. ' ms', true, now, retention_ms, maxlen)
      lost[#lost + 1] = id
      lost[#lost + 1] = 'timeout'
    elseif held then
      redis.call('ZADD', K.leases, 'XX', now + lease_ms, id)
    else
      redis.call('SREM', K.worker .. worker_id .. ':jobs', id)
      lost[#lost + 1] = id
      if job ~= nil and job.status == 'cancelled' then
        lost[#lost + 1] = 'cancelled'
      else
        lost[#lost + 1] = 'lease_lost'
      end
    end
  end
  reap_expired(K, now, retention_ms, maxlen, 100)
  promote_due(K, now, maxlen, 100)
  return lost
end

-- Delete jobs and workflows whose retention ended. Bounded.
local function purge_finished(K, now, limit)
  local members = redis.call('ZRANGEBYSCORE', K.finished, '-inf', now, 'LIMIT', 0, limit)
  for _, member in ipairs(members) do
    redis.call('ZREM', K.finished, member)
    local kind, id = string.match(member, '^(%a+):(.+)$')
    if kind == 'job' then
      local f = redis.call('HMGET', K.job .. id, 'status', 'type', 'worker_id', 'workflow_id')
      if f[1] then redis.call('ZREM', K.idx .. 'status:' .. f[1], id) end
      if f[2] then redis.call('ZREM', K.idx .. 'type:' .. f[2], id) end
      if not is_null(f[3]) then redis.call('ZREM', K.idx .. 'worker:' .. f[3], id) end
      redis.call('ZREM', K.idx .. 'all', id)
      redis.call('DEL', K.job .. id)
    elseif kind == 'wf' then
      redis.call('DEL', K.wf .. id, K.idx .. 'wf:' .. id)
    end
  end
  return #members
end

-- Workers whose heartbeats stopped are reported offline once.
local function mark_offline(K, now, offline_ms, maxlen)
  local stale = redis.call('ZRANGEBYSCORE', K.workers_seen, '-inf', now - offline_ms)
  local count = 0
  for _, worker_id in ipairs(stale) do
    if redis.call('SADD', K.workers_offline, worker_id) == 1 then
      emit(K, maxlen, 'worker_disconnected', { 'worker_id', worker_id },
        cjson.encode({ reason = 'heartbeat timeout' }))
      count = count + 1
    end
  end
  return count
end

-- jobq_tick: housekeeping any process may run at any time (idempotent, bounded).
--   KEYS[1] the namespace prefix
--   ARGV[1] events cap   ARGV[2] retention (ms)   ARGV[3] worker offline after (ms)
--   ARGV[4] max items per kind
-- Returns: {reaped leases, promoted delayed jobs, purged records, workers gone offline}
local function jobq_tick(keys, argv)
  local K = namespace_keys(keys[1])
  local maxlen, retention_ms = argv[1], to_int(argv[2], 'retention_ms')
  local limit = to_int(argv[4], 'limit')
  local now = now_ms()
  return {
    reap_expired(K, now, retention_ms, maxlen, limit),
    promote_due(K, now, maxlen, limit),
    purge_finished(K, now, limit),
    mark_offline(K, now, to_int(argv[3], 'offline_ms'), maxlen),
  }
end

redis.register_function('jobq_heartbeat', jobq_heartbeat)
redis.register_function('jobq_tick', jobq_tick)
