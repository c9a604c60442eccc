-- jobq: creating one job (used by jobq_submit and jobq_workflow_create).

-- Fields of one job in ARGV, in this order (jobq/broker.py builds them):
local SUBMIT_FIELDS = {
  'id', 'type', 'priority', 'shape', 'shape_json', 'data', 'max_retries', 'backoff_ms',
  'timeout_ms', 'delay_ms', 'idempotency_key', 'webhook_url', 'workflow_id', 'step_index',
  'deps_left', 'dependents', 'parents',
}
local SUBMIT_WIDTH = #SUBMIT_FIELDS
local OPTIONAL_FIELDS = {
  'timeout_ms', 'webhook_url', 'idempotency_key', 'workflow_id', 'step_index', 'deps_left',
  'dependents', 'parents',
}

-- (Job type names are checked against the catalog's name pattern, so they need no
-- JSON escaping in the event text below.)
local function read_submit(argv, offset)
  local spec = {}
  for i, name in ipairs(SUBMIT_FIELDS) do spec[name] = argv[offset + i - 1] or '' end
  local priority = tonumber(spec.priority)
  if priority == nil or priority < 0 or priority > 100 then
    raise(ERR.VALIDATION_ERROR, 'validation failed: priority must be 0-100')
  end
  if spec.id == '' or spec.type == '' or spec.shape == '' then
    raise(ERR.VALIDATION_ERROR, 'validation failed: id, type and shape are required')
  end
  return spec
end

-- Create one job. `batch` carries state shared by the jobs of one call: the next
-- sequence number (allocated for the whole call up front) and the shapes already
-- registered. Returns id, 1 (created) or the existing id, 0 (idempotent duplicate).
local function submit_one(K, spec, now, idem_ttl_ms, maxlen, batch)
  if spec.idempotency_key ~= '' then
    local existing = redis.call('GET', K.idem .. spec.idempotency_key)
    if existing and redis.call('EXISTS', K.job .. existing) == 1 then return existing, 0 end
    redis.call('SET', K.idem .. spec.idempotency_key, spec.id, 'PX', idem_ttl_ms)
  end
  if not batch.shapes[spec.shape] then
    batch.shapes[spec.shape] = true
    if redis.call('HSETNX', K.shapes, spec.shape, spec.shape_json) == 1 then
      -- The version is the id of the job that added the shape: unique even if the
      -- registry is lost and rebuilt, so a cached view can never look current by chance.
      redis.call('SET', K.shapes_version, spec.id)
    end
  end
  local seq = batch.next_seq
  batch.next_seq = seq + 1
  local id = spec.id
  local delay = tonumber(spec.delay_ms) or 0
  local status = 'pending'
  if (tonumber(spec.deps_left) or 0) > 0 then
    status = 'waiting'
  elseif delay > 0 then
    status = 'delayed'
  end
  local fields = { 'HSET', K.job .. id,
    'id', id, 'type', spec.type, 'status', status, 'priority', spec.priority, 'seq', seq,
    'shape', spec.shape, 'data', spec.data, 'max_retries', spec.max_retries,
    'backoff_ms', spec.backoff_ms, 'retry_count', 0, 'progress', 0, 'created_at', now }
  -- Optional fields are stored only when set (smaller hashes, faster writes).
  for _, name in ipairs(OPTIONAL_FIELDS) do
    local value = spec[name]
    if value ~= '' then
      fields[#fields + 1] = name
      fields[#fields + 1] = value
    end
  end
  if status == 'delayed' then
    fields[#fields + 1] = 'run_at'
    fields[#fields + 1] = now + delay
    redis.call('ZADD', K.delayed, now + delay, id)
  elseif status == 'pending' then
    redis.call('ZADD', K.q .. spec.shape, int_str(queue_score(spec.priority, seq)), id)
  end
  redis.call(unpack(fields))
  redis.call('ZADD', K.idx .. 'status:' .. status, seq, id)
  redis.call('ZADD', K.idx .. 'all', seq, id)
  redis.call('ZADD', K.idx .. 'type:' .. spec.type, seq, id)
  emit(K, maxlen, 'job_submitted', { 'job_id', id, 'workflow_id', spec.workflow_id },
    '{"job_type":"' .. spec.type .. '","status":"' .. status
    .. '","priority":' .. spec.priority .. '}')
  return id, 1
end

-- Allocate sequence numbers for `count` jobs in one call.
local function new_batch(K, count)
  local last = redis.call('INCRBY', K.seq, count)
  return { next_seq = last - count + 1, shapes = {} }
end
