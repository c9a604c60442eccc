-- jobq: job state helpers shared by the lifecycle functions.
-- Every status change goes through set_status (keeps the listing indexes right),
-- and every transition emits exactly one event in the same call.

local MAX_BACKOFF_MS = 3600000
local PRIORITY_SPAN = 17592186044416 -- 2^44: queue score = (100 - priority) * 2^44 + seq

local function queue_score(priority, seq)
  return (100 - tonumber(priority)) * PRIORITY_SPAN + tonumber(seq)
end

-- Change a job's status: move it between the listing indexes, and write the status
-- together with any other fields (a flat name, value list) in one HSET.
local function set_status(K, id, job, new_status, fields)
  if job.status ~= nil then redis.call('ZREM', K.idx .. 'status:' .. job.status, id) end
  redis.call('ZADD', K.idx .. 'status:' .. new_status, job.seq, id)
  local args = { 'HSET', K.job .. id, 'status', new_status }
  if fields ~= nil then
    for i = 1, #fields, 2 do
      args[#args + 1] = fields[i]
      args[#args + 1] = fields[i + 1]
      job[fields[i]] = fields[i + 1]
    end
  end
  redis.call(unpack(args))
  job.status = new_status
end

-- Put a job into the pending queue of its shape (exact FIFO within a priority).
local function enqueue(K, id, job, fields)
  set_status(K, id, job, 'pending', fields)
  redis.call('ZADD', K.q .. job.shape, int_str(queue_score(job.priority, job.seq)), id)
end

-- Forget which worker holds a job. (The token stays: fencing checks the status first.)
local function drop_lease(K, id, job)
  redis.call('ZREM', K.leases, id)
  if not is_null(job.worker_id) then
    redis.call('SREM', K.worker .. job.worker_id .. ':jobs', id)
  end
end

-- A terminal state: record it and schedule the purge after the retention time.
local function finish(K, id, job, status, now, retention_ms, fields)
  local all = { 'completed_at', now }
  for i = 1, #fields do all[#all + 1] = fields[i] end
  set_status(K, id, job, status, all)
  redis.call('ZADD', K.finished, now + retention_ms, 'job:' .. id)
end

local function job_event(K, maxlen, etype, id, job, data)
  return emit(K, maxlen, etype,
    { 'job_id', id, 'workflow_id', job.workflow_id, 'worker_id', job.worker_id }, data)
end

-- ---------------------------------------------------------------- workflows
local function workflow_finish(K, wf_id, status, now, retention_ms, maxlen, err)
  local wf_key = K.wf .. wf_id
  if redis.call('HGET', wf_key, 'status') ~= 'running' then return end
  redis.call('HSET', wf_key, 'status', status, 'completed_at', now)
  if err ~= nil then redis.call('HSET', wf_key, 'error', err) end
  redis.call('ZADD', K.finished, now + retention_ms, 'wf:' .. wf_id)
  local data = nil
  if err ~= nil then data = cjson.encode({ error = err }) end
  emit(K, maxlen, 'workflow_' .. status, { 'workflow_id', wf_id }, data)
end

-- A step completed: release dependents whose parents are all done; maybe finish the workflow.
local function workflow_step_completed(K, id, job, now, retention_ms, maxlen)
  if is_null(job.workflow_id) then return end
  for _, dep_id in ipairs(json_list(job.dependents)) do
    local left = redis.call('HINCRBY', K.job .. dep_id, 'deps_left', -1)
    local dep = load_job(K, dep_id)
    if left <= 0 and dep ~= nil and dep.status == 'waiting' then
      enqueue(K, dep_id, dep)
      job_event(K, maxlen, 'job_ready', dep_id, dep, nil)
    end
  end
  local wf_key = K.wf .. job.workflow_id
  local done = redis.call('HINCRBY', wf_key, 'completed_steps', 1)
  if done >= tonumber(redis.call('HGET', wf_key, 'total_steps') or '0') then
    workflow_finish(K, job.workflow_id, 'completed', now, retention_ms, maxlen, nil)
  end
end

-- A step failed for good or was cancelled: cancel its descendants, fail the workflow.
local function workflow_step_failed(K, id, job, now, retention_ms, maxlen, reason)
  if is_null(job.workflow_id) then return end
  local queue = json_list(job.dependents)
  local seen = {}
  while #queue > 0 do
    local dep_id = table.remove(queue)
    if not seen[dep_id] then
      seen[dep_id] = true
      local dep = load_job(K, dep_id)
      if dep ~= nil and dep.status == 'waiting' then
        local why = 'upstream step ' .. id .. ' ' .. reason
        finish(K, dep_id, dep, 'cancelled', now, retention_ms, { 'error', why })
        job_event(K, maxlen, 'job_cancelled', dep_id, dep, cjson.encode({ reason = why }))
        for _, next_id in ipairs(json_list(dep.dependents)) do
          queue[#queue + 1] = next_id
        end
      end
    end
  end
  workflow_finish(K, job.workflow_id, 'failed', now, retention_ms, maxlen,
    'step ' .. (job.step_index or '?') .. ' (' .. id .. ') ' .. reason)
end

-- ---------------------------------------------------------------- attempts
-- The job's attempts list with one more failed attempt, as JSON text.
local function with_attempt(job, err, now)
  local attempts = json_list(job.attempts)
  attempts[#attempts + 1] = {
    attempt = tonumber(job.retry_count or '0') + 1,
    error = err, worker_id = job.worker_id, at = now,
  }
  return cjson.encode(attempts)
end

-- An attempt failed (handler error, lease expiry, timeout): back off and retry while
-- retries remain and the failure is retryable; otherwise the job fails for good.
-- Returns true when the job will be retried.
local function fail_attempt(K, id, job, err, retryable, now, retention_ms, maxlen)
  local attempts = with_attempt(job, err, now)
  drop_lease(K, id, job)
  local retries = tonumber(job.retry_count or '0')
  if retryable and retries < tonumber(job.max_retries or '0') then
    local delay = math.min(tonumber(job.backoff_ms or '1000') * 2 ^ retries, MAX_BACKOFF_MS)
    set_status(K, id, job, 'delayed', { 'retry_count', retries + 1, 'error', err,
      'run_at', now + delay, 'progress', 0, 'attempts', attempts })
    redis.call('ZADD', K.delayed, now + delay, id)
    job_event(K, maxlen, 'job_failed', id, job, cjson.encode({
      error = err, will_retry = true, retry_count = retries + 1, retry_in_ms = delay }))
    return true
  end
  finish(K, id, job, 'failed', now, retention_ms, { 'error', err, 'attempts', attempts })
  job_event(K, maxlen, 'job_failed', id, job, cjson.encode({ error = err, will_retry = false }))
  workflow_step_failed(K, id, job, now, retention_ms, maxlen, 'failed: ' .. err)
  return false
end

-- ---------------------------------------------------------------- housekeeping
-- Leases that expired go back through fail_attempt (retry accounting). Bounded.
local function reap_expired(K, now, retention_ms, maxlen, limit)
  local ids = redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', K.leases, id)
    local job = load_job(K, id)
    if job ~= nil and (job.status == 'assigned' or job.status == 'running') then
      fail_attempt(K, id, job, 'lease expired (worker ' .. (job.worker_id or '?') .. ' lost)',
        true, now, retention_ms, maxlen)
    end
  end
  return #ids
end

-- Delayed jobs whose time has come move to their pending queue. Bounded.
local function promote_due(K, now, maxlen, limit)
  local ids = redis.call('ZRANGEBYSCORE', K.delayed, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', K.delayed, id)
    local job = load_job(K, id)
    if job ~= nil and job.status == 'delayed' and tonumber(job.seq) ~= nil and job.shape then
      enqueue(K, id, job)
      job_event(K, maxlen, 'job_ready', id, job, nil)
    end
  end
  return #ids
end
