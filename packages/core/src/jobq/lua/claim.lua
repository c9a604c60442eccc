-- jobq: claiming jobs.

-- Take up to max_jobs of the best claimable jobs from the given shape queues.
-- shapes: list of { id = shape id, tier = 0 | 1 }. Only queue heads are read, so the
-- cost is independent of pending jobs in shapes the worker cannot serve.
local function claim_from(K, worker_id, shapes, max_jobs, lease_ms, now, maxlen)
  local candidates = {}
  for _, shape in ipairs(shapes) do
    local head = redis.call('ZRANGE', K.q .. shape.id, 0, max_jobs - 1, 'WITHSCORES')
    for i = 1, #head, 2 do
      candidates[#candidates + 1] =
        { id = head[i], score = tonumber(head[i + 1]), tier = shape.tier, shape = shape.id }
    end
  end
  table.sort(candidates, function(a, b)
    if a.tier ~= b.tier then return a.tier < b.tier end
    if a.score ~= b.score then return a.score < b.score end
    return a.id < b.id
  end)
  local claimed = {}
  local next_token = nil
  for _, c in ipairs(candidates) do
    if #claimed >= max_jobs then break end
    redis.call('ZREM', K.q .. c.shape, c.id)
    local job = load_job(K, c.id)
    -- A queued id whose record vanished or is not pending is dropped from the queue;
    -- a malformed record is failed and kept for inspection. Neither blocks other jobs.
    if job ~= nil and job.status == 'pending' then
      if tonumber(job.seq) == nil or tonumber(job.priority) == nil then
        job.seq = job.seq or 0
        finish(K, c.id, job, 'failed', now, 86400000, { 'error', 'malformed job record' })
        job_event(K, maxlen, 'job_failed', c.id, job,
          cjson.encode({ error = 'malformed job record', will_retry = false }))
      else
        if next_token == nil then -- fencing tokens for the rest of this call, at once
          local left = max_jobs - #claimed
          next_token = redis.call('INCRBY', K.tokens, left) - left + 1
        end
        local fields = { 'worker_id', worker_id, 'token', next_token, 'assigned_at', now,
          'progress', 0 }
        next_token = next_token + 1
        if tonumber(job.timeout_ms or '0') > 0 then
          fields[#fields + 1] = 'deadline'
          fields[#fields + 1] = now + tonumber(job.timeout_ms)
        end
        set_status(K, c.id, job, 'assigned', fields)
        redis.call('ZADD', K.idx .. 'worker:' .. worker_id, job.seq, c.id)
        redis.call('ZADD', K.leases, now + lease_ms, c.id)
        redis.call('SADD', K.worker .. worker_id .. ':jobs', c.id)
        job_event(K, maxlen, 'job_assigned', c.id, job, nil)
        claimed[#claimed + 1] = job
      end
    end
  end
  return claimed
end

local function last_event_id(K)
  local last = redis.call('XREVRANGE', K.events, '+', '-', 'COUNT', 1)
  if #last == 0 then return '0-0' end
  return last[1][1]
end

-- jobq_claim: claim up to N matching jobs for a worker.
--   KEYS[1] the namespace prefix (see _base.lua)
--   ARGV[1] worker capabilities JSON (WorkerCapabilities)
--   ARGV[2] shapes version the caller knows (STALE_SHAPES if it differs)
--   ARGV[3] max jobs to claim (>= 1)
--   ARGV[4] lease length (ms)
--   ARGV[5] events stream cap
--   ARGV[6] retention of finished jobs (ms), for jobs failed by lease expiry
--   ARGV[7..] ids of the shapes the caller believes the worker can serve
-- Returns: {'OK', job1, job2, ...} where each job is its hash as a flat field/value
--   list (token included), or {'EMPTY', <last event id>} to block on the stream from there.
-- Errors: STALE_SHAPES <current version>, VALIDATION_ERROR.
local function jobq_claim(keys, argv)
  local K = namespace_keys(keys[1])
  local worker = decode_worker(argv[1])
  local max_jobs = to_int(argv[3], 'max_jobs')
  local lease_ms = to_int(argv[4], 'lease_ms')
  local maxlen, retention_ms = argv[5], to_int(argv[6], 'retention_ms')
  local now = now_ms()
  reap_expired(K, now, retention_ms, maxlen, 100)
  promote_due(K, now, maxlen, 100)
  local version = redis.call('GET', K.shapes_version) or '0'
  if version ~= argv[2] then raise(ERR.STALE_SHAPES, version) end
  local shapes = {}
  for i = 7, #argv do
    local text = redis.call('HGET', K.shapes, argv[i])
    if text then
      local tier = match_tier(worker, cjson.decode(text))
      if tier ~= nil then shapes[#shapes + 1] = { id = argv[i], tier = tier } end
    end
  end
  local claimed = claim_from(K, worker.worker_id, shapes, max_jobs, lease_ms, now, maxlen)
  if #claimed == 0 then return { 'EMPTY', last_event_id(K) } end
  local reply = { 'OK' }
  for _, job in ipairs(claimed) do reply[#reply + 1] = redis.call('HGETALL', K.job .. job.id) end
  return reply
end

-- findMatchingJob: compatibility entry point of the system jobq replaces.
--   KEYS: none. It works on the default namespace and builds its key names from it,
--         so on Redis Cluster it must be sent to the slot of "{default}".
--   ARGV[1] worker capabilities JSON (worker_id optional, "anonymous" by default)
--   ARGV[2] max_scan: accepted for compatibility; the claim reads only queue heads
--   ARGV[3] lease length (ms), optional, default 30000
-- Returns JSON: {"success": true, "jobId": id, "job": {...}} or
--   {"success": false, "reason": "No matching jobs found"}.
local function find_matching_job(_, argv)
  local K = namespace_keys('jobq:{default}:')
  local ok, worker = pcall(cjson.decode, argv[1] or '')
  if not ok or type(worker) ~= 'table' then
    return cjson.encode({ success = false, reason = 'Invalid worker capabilities JSON' })
  end
  if is_null(worker.worker_id) then worker.worker_id = 'anonymous' end
  prepare_worker(worker)
  local now = now_ms()
  local maxlen = 100000
  reap_expired(K, now, 7 * 86400000, maxlen, 100)
  promote_due(K, now, maxlen, 100)
  local shapes = {}
  local all = redis.call('HGETALL', K.shapes)
  for i = 1, #all, 2 do
    local tier = match_tier(worker, cjson.decode(all[i + 1]))
    if tier ~= nil then shapes[#shapes + 1] = { id = all[i], tier = tier } end
  end
  local claimed = claim_from(K, worker.worker_id, shapes, 1, tonumber(argv[3]) or 30000, now, maxlen)
  if #claimed == 0 then
    return cjson.encode({ success = false, reason = 'No matching jobs found' })
  end
  local job = claimed[1]
  local view = cjson.decode(job.data or '{}')
  for _, name in ipairs({ 'id', 'type', 'status', 'worker_id', 'workflow_id' }) do
    view[name] = job[name]
  end
  view.priority = tonumber(job.priority)
  view.token = tonumber(job.token)
  view.created_at = tonumber(job.created_at)
  return cjson.encode({ success = true, jobId = job.id, job = view })
end

redis.register_function('jobq_claim', jobq_claim)
redis.register_function('findMatchingJob', find_matching_job)
