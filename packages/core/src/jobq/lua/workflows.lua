-- jobq: workflows (DAGs of jobs). Completing, failing and cancelling steps advance the
-- workflow inside the lifecycle functions (_jobs.lua); this file creates workflows.

-- jobq_workflow_create: create a workflow and all its step jobs in one call.
--   KEYS[1] the namespace prefix
--   ARGV[1] workflow id   ARGV[2] workflow JSON (name, description, webhook_url)
--   ARGV[3] events cap   ARGV[4] idempotency key lifetime (ms)   ARGV[5] number of steps N
--   ARGV[6..] N groups of SUBMIT_FIELDS (see _submit.lua), in step order; the caller has
--   checked the DAG (indices in range, no cycles) and set deps_left/dependents/parents.
-- Returns: 'OK'
local function jobq_workflow_create(keys, argv)
  local K = namespace_keys(keys[1])
  local wf_id, info, maxlen = argv[1], argv[2], argv[3]
  local idem_ttl, count = to_int(argv[4], 'idempotency ttl'), to_int(argv[5], 'count')
  local specs = {}
  for n = 0, count - 1 do specs[#specs + 1] = read_submit(argv, 6 + n * SUBMIT_WIDTH) end
  if redis.call('EXISTS', K.wf .. wf_id) == 1 then
    raise(ERR.VALIDATION_ERROR, 'validation failed: workflow ' .. wf_id .. ' already exists')
  end
  local now = now_ms()
  local meta = cjson.decode(info)
  redis.call('HSET', K.wf .. wf_id, 'id', wf_id, 'name', meta.name or '',
    'info', info, 'status', 'running', 'total_steps', count, 'completed_steps', 0,
    'created_at', now)
  local batch = new_batch(K, count)
  for index, spec in ipairs(specs) do
    submit_one(K, spec, now, idem_ttl, maxlen, batch)
    redis.call('ZADD', K.idx .. 'wf:' .. wf_id, index - 1, spec.id)
  end
  emit(K, maxlen, 'workflow_created', { 'workflow_id', wf_id },
    cjson.encode({ name = meta.name, total_steps = count }))
  return 'OK'
end

redis.register_function('jobq_workflow_create', jobq_workflow_create)
