-- jobq: the job lifecycle functions. Each one checks the current state (and, for the
-- owner's calls, the fencing token) before it writes, and emits one event.

-- Check that the caller still holds the lease. token '' = unfenced (internal HTTP
-- executors without a token): the job must still be assigned or running.
local function require_lease(K, id, token)
  local job = require_job(K, id)
  if job.status ~= 'assigned' and job.status ~= 'running' then
    raise(ERR.LEASE_LOST, 'job ' .. id .. ' is ' .. job.status .. ', not held by a worker')
  end
  if token ~= '' and job.token ~= token then
    raise(ERR.LEASE_LOST, 'job ' .. id .. ': lease token ' .. token .. ' is no longer valid')
  end
  return job
end

-- jobq_submit: create jobs (a batch in one call).
--   KEYS[1] the namespace prefix (see _base.lua)
--   ARGV[1] events stream cap
--   ARGV[2] idempotency key lifetime (ms)
--   ARGV[3] number of jobs N
--   ARGV[4..] N groups of SUBMIT_FIELDS (see _submit.lua)
-- Returns: a flat list id1, created1, id2, created2, ... (created 0 = idempotent duplicate)
-- Errors: VALIDATION_ERROR (nothing is written when any job is invalid)
local function jobq_submit(keys, argv)
  local K = namespace_keys(keys[1])
  local maxlen, idem_ttl = argv[1], to_int(argv[2], 'idempotency ttl')
  local count = to_int(argv[3], 'count')
  local specs = {}
  for n = 0, count - 1 do specs[#specs + 1] = read_submit(argv, 4 + n * SUBMIT_WIDTH) end
  local now = now_ms()
  local batch = new_batch(K, count)
  local reply = {}
  for _, spec in ipairs(specs) do
    local id, created = submit_one(K, spec, now, idem_ttl, maxlen, batch)
    reply[#reply + 1] = id
    reply[#reply + 1] = created
  end
  return reply
end

-- jobq_progress: report progress; the first report moves assigned -> running.
--   KEYS[1] the namespace prefix
--   ARGV[1] job id   ARGV[2] token ('' = unfenced)   ARGV[3] progress 0-100
--   ARGV[4] message ('' = none)   ARGV[5] events stream cap
-- Returns: the job status after the call
-- Errors: JOB_NOT_FOUND, LEASE_LOST, MALFORMED_JOB, VALIDATION_ERROR
local function jobq_progress(keys, argv)
  local K = namespace_keys(keys[1])
  local id, token, message, maxlen = argv[1], argv[2], argv[4], argv[5]
  local progress = to_int(argv[3], 'progress')
  if progress < 0 or progress > 100 then
    raise(ERR.VALIDATION_ERROR, 'validation failed: progress must be 0-100')
  end
  local job = require_lease(K, id, token)
  if job.status == 'assigned' then
    set_status(K, id, job, 'running',
      { 'started_at', now_ms(), 'progress', progress, 'message', message })
  else
    redis.call('HSET', K.job .. id, 'progress', progress, 'message', message)
  end
  local data = { progress = progress, status = 'running' }
  if message ~= '' then data.message = message end
  job_event(K, maxlen, 'job_progress', id, job, cjson.encode(data))
  return job.status
end

-- jobq_complete: finish a job with its result; advances its workflow in the same call.
--   KEYS[1] the namespace prefix
--   ARGV[1] job id   ARGV[2] token ('' = unfenced)   ARGV[3] result (JSON object text)
--   ARGV[4] events stream cap   ARGV[5] retention (ms)
--   ARGV[6] '1' = idempotent: a job already completed is not an error
--   ARGV[7] max result size carried inside the event (bytes)
-- Returns: 'OK', or 'ALREADY' (idempotent call on a completed job)
-- Errors: JOB_NOT_FOUND, LEASE_LOST, MALFORMED_JOB
local function jobq_complete(keys, argv)
  local K = namespace_keys(keys[1])
  local id, token, result, maxlen = argv[1], argv[2], argv[3], argv[4]
  local retention_ms = to_int(argv[5], 'retention_ms')
  if argv[6] == '1' then
    local job = require_job(K, id)
    if job.status == 'completed' then return 'ALREADY' end
  end
  local job = require_lease(K, id, token)
  local now = now_ms()
  drop_lease(K, id, job)
  local fields = { 'progress', 100, 'result', result }
  if is_null(job.started_at) then
    fields[#fields + 1] = 'started_at'
    fields[#fields + 1] = now
  end
  finish(K, id, job, 'completed', now, retention_ms, fields)
  local data = '{"result":' .. result .. '}'
  if #result > to_int(argv[7], 'event result limit') then data = '{"result_truncated":true}' end
  job_event(K, maxlen, 'job_completed', id, job, data)
  workflow_step_completed(K, id, job, now, retention_ms, maxlen)
  return 'OK'
end

-- jobq_fail: report a failed attempt; retried with backoff while retries remain.
--   KEYS[1] the namespace prefix
--   ARGV[1] job id   ARGV[2] token ('' = unfenced)   ARGV[3] error text
--   ARGV[4] '1' retryable / '0' not   ARGV[5] events stream cap   ARGV[6] retention (ms)
-- Returns: 'RETRY' (will be retried) or 'FAILED' (failed for good)
-- Errors: JOB_NOT_FOUND, LEASE_LOST, MALFORMED_JOB
local function jobq_fail(keys, argv)
  local K = namespace_keys(keys[1])
  local id, token, err, maxlen = argv[1], argv[2], argv[3], argv[5]
  local retention_ms = to_int(argv[6], 'retention_ms')
  local job = require_lease(K, id, token)
  if fail_attempt(K, id, job, err, argv[4] == '1', now_ms(), retention_ms, maxlen) then
    return 'RETRY'
  end
  return 'FAILED'
end

-- jobq_release: hand a claimed job back to pending without using up a retry (drain).
--   KEYS[1] the namespace prefix
--   ARGV[1] job id   ARGV[2] token ('' = unfenced)   ARGV[3] reason   ARGV[4] events cap
-- Returns: 'OK'
-- Errors: JOB_NOT_FOUND, LEASE_LOST, MALFORMED_JOB
local function jobq_release(keys, argv)
  local K = namespace_keys(keys[1])
  local id, reason, maxlen = argv[1], argv[3], argv[4]
  local job = require_lease(K, id, argv[2])
  drop_lease(K, id, job)
  enqueue(K, id, job, { 'progress', 0 })
  job_event(K, maxlen, 'job_released', id, job, cjson.encode({ reason = reason }))
  return 'OK'
end

-- jobq_cancel: cancel a job. Waiting, pending or delayed: at once. Assigned or running:
-- the lease is revoked, so the owner learns it at its next heartbeat and every later
-- progress/complete/fail of it is rejected. A workflow step's descendants are cancelled.
--   KEYS[1] the namespace prefix
--   ARGV[1] job id   ARGV[2] reason   ARGV[3] events cap   ARGV[4] retention (ms)
-- Returns: the status the job had before
-- Errors: JOB_NOT_FOUND, INVALID_STATE (already finished), MALFORMED_JOB
local function jobq_cancel(keys, argv)
  local K = namespace_keys(keys[1])
  local id, reason, maxlen = argv[1], argv[2], argv[3]
  local retention_ms = to_int(argv[4], 'retention_ms')
  local job = require_job(K, id)
  local before = job.status
  if before == 'completed' or before == 'failed' or before == 'cancelled' then
    raise(ERR.INVALID_STATE, 'job ' .. id .. ' is already ' .. before)
  end
  local now = now_ms()
  if before == 'pending' then
    redis.call('ZREM', K.q .. job.shape, id)
  elseif before == 'delayed' then
    redis.call('ZREM', K.delayed, id)
  elseif before == 'assigned' or before == 'running' then
    drop_lease(K, id, job)
  end
  finish(K, id, job, 'cancelled', now, retention_ms, { 'error', 'cancelled: ' .. reason })
  job_event(K, maxlen, 'job_cancelled', id, job, cjson.encode({ reason = reason, previous = before }))
  workflow_step_failed(K, id, job, now, retention_ms, maxlen, 'cancelled: ' .. reason)
  return before
end

-- Steps that were cancelled because this one failed wait again for their parents.
local function restore_descendants(K, job)
  local queue = json_list(job.dependents)
  while #queue > 0 do
    local dep_id = table.remove(queue)
    local dep = load_job(K, dep_id)
    if dep ~= nil and dep.status == 'cancelled' and string.find(dep.error or '', 'upstream step', 1, true) == 1 then
      local left = 0
      for _, parent in ipairs(json_list(dep.parents)) do
        if redis.call('HGET', K.job .. parent, 'status') ~= 'completed' then left = left + 1 end
      end
      redis.call('ZREM', K.finished, 'job:' .. dep_id)
      set_status(K, dep_id, dep, 'waiting', { 'deps_left', left, 'error', '', 'completed_at', '' })
      for _, next_id in ipairs(json_list(dep.dependents)) do
        queue[#queue + 1] = next_id
      end
    end
  end
end

-- jobq_retry: manually retry a failed or cancelled job (fresh retry budget).
--   KEYS[1] the namespace prefix
--   ARGV[1] job id   ARGV[2] events cap
-- Returns: the new status ('pending', or 'waiting' for a step whose parents are not done)
-- Errors: JOB_NOT_FOUND, INVALID_STATE, MALFORMED_JOB
local function jobq_retry(keys, argv)
  local K = namespace_keys(keys[1])
  local id, maxlen = argv[1], argv[2]
  local job = require_job(K, id)
  if job.status ~= 'failed' and job.status ~= 'cancelled' then
    raise(ERR.INVALID_STATE, 'job ' .. id .. ' is ' .. job.status .. '; only failed or cancelled jobs can be retried')
  end
  redis.call('ZREM', K.finished, 'job:' .. id)
  local fields = { 'retry_count', 0, 'progress', 0, 'error', '', 'completed_at', '' }
  local parents_left = 0
  for _, parent in ipairs(json_list(job.parents)) do
    if redis.call('HGET', K.job .. parent, 'status') ~= 'completed' then
      parents_left = parents_left + 1
    end
  end
  if parents_left > 0 then
    fields[#fields + 1] = 'deps_left'
    fields[#fields + 1] = parents_left
    set_status(K, id, job, 'waiting', fields)
  else
    enqueue(K, id, job, fields)
  end
  if not is_null(job.workflow_id) then
    restore_descendants(K, job)
    redis.call('HSET', K.wf .. job.workflow_id, 'status', 'running', 'error', '')
    redis.call('HDEL', K.wf .. job.workflow_id, 'completed_at')
    redis.call('ZREM', K.finished, 'wf:' .. job.workflow_id)
  end
  job_event(K, maxlen, 'job_retried', id, job, cjson.encode({ status = job.status }))
  return job.status
end

redis.register_function('jobq_submit', jobq_submit)
redis.register_function('jobq_progress', jobq_progress)
redis.register_function('jobq_complete', jobq_complete)
redis.register_function('jobq_fail', jobq_fail)
redis.register_function('jobq_release', jobq_release)
redis.register_function('jobq_cancel', jobq_cancel)
redis.register_function('jobq_retry', jobq_retry)
