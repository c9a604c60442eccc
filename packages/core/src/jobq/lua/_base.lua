-- jobq Redis Functions library: shared base helpers.
--
-- Files in this folder are concatenated by jobq/functions.py in name order: the
-- helper files (names starting with "_") first, then the files that register
-- functions. Everything is local to the library.
--
-- Error codes: one table (ERR); the same codes become typed exceptions in one place
-- on the Python side (jobq/errors.py). A function fails with raise(ERR.X, detail),
-- always BEFORE it writes anything (a Redis function is not rolled back on error).

local ERR = {
  VALIDATION_ERROR = 'VALIDATION_ERROR',
  JOB_NOT_FOUND = 'JOB_NOT_FOUND',
  WORKFLOW_NOT_FOUND = 'WORKFLOW_NOT_FOUND',
  INVALID_STATE = 'INVALID_STATE',
  LEASE_LOST = 'LEASE_LOST',
  STALE_SHAPES = 'STALE_SHAPES',
  MALFORMED_JOB = 'MALFORMED_JOB',
}

local function raise(code, detail)
  error({ err = code .. ' ' .. detail })
end

-- Keys. Every function receives ONE key: KEYS[1] = the namespace prefix
-- "jobq:{<namespace>}:" (jobq/keys.py Keys.base). Every key a function touches is that
-- prefix plus a fixed suffix (below) or a suffix and an id, so all of them carry the
-- namespace's hash tag and live in the prefix's Redis Cluster slot. Passing one key
-- instead of seventeen halves the cost of packing and parsing each call.
-- The names must equal jobq/keys.py; jobq_key_names lets a test compare them.
local KEY_SUFFIXES = {
  job = 'job:',                 -- prefix of job hashes
  q = 'q:',                     -- prefix of pending queues (one sorted set per shape)
  delayed = 'delayed',          -- sorted set: job id -> due time (ms)
  leases = 'leases',            -- sorted set: job id -> lease expiry (ms)
  shapes = 'shapes',            -- hash: shape id -> canonical requirements JSON
  shapes_version = 'shapes:version', -- changes whenever a shape is added
  seq = 'seq',                  -- counter: global submission order
  tokens = 'tokens',            -- counter: fencing tokens
  events = 'events',            -- capped stream of events
  finished = 'finished',        -- sorted set: "job:<id>" / "wf:<id>" -> purge time (ms)
  idx = 'idx:',                 -- prefix of listing indexes
  wf = 'wf:',                   -- prefix of workflow hashes
  worker = 'worker:',           -- prefix of per-worker job sets ("worker:<id>:jobs")
  idem = 'idem:',               -- prefix of idempotency keys
  workers = 'workers',          -- hash: worker id -> registration JSON
  workers_seen = 'workers:seen', -- sorted set: worker id -> last heartbeat (ms)
  workers_offline = 'workers:offline', -- set of workers reported offline
}

-- Derived names are cached per namespace for the life of the loaded library.
local KEY_CACHE = {}

local function namespace_keys(base)
  local K = KEY_CACHE[base]
  if K == nil then
    K = {}
    for name, suffix in pairs(KEY_SUFFIXES) do K[name] = base .. suffix end
    KEY_CACHE[base] = K
  end
  return K
end

local function is_null(value)
  return value == nil or value == false or value == cjson.null or value == ''
end

-- A JSON list stored in a hash field ('' or missing: empty).
local function json_list(text)
  if is_null(text) then return {} end
  return cjson.decode(text)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Scores beyond 2^31 must not go through tostring (which keeps 14 digits only).
local function int_str(n)
  return string.format('%.0f', n)
end

local function to_int(value, name)
  local n = tonumber(value)
  if n == nil then
    raise(ERR.VALIDATION_ERROR, 'validation failed: ' .. name .. ' must be a number')
  end
  return math.floor(n)
end

-- Read a job hash as a Lua table (field -> string); nil when the job does not exist.
local function load_job(K, id)
  local flat = redis.call('HGETALL', K.job .. id)
  if #flat == 0 then return nil end
  local job = {}
  for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
  return job
end

local function require_job(K, id)
  local job = load_job(K, id)
  if job == nil then raise(ERR.JOB_NOT_FOUND, 'Job not found: ' .. id) end
  if job.status == nil or tonumber(job.seq) == nil or job.shape == nil then
    raise(ERR.MALFORMED_JOB, 'job record ' .. id .. ' is malformed')
  end
  return job
end

-- Append one entry to the event stream. `extra` is a flat list of field, value pairs;
-- `data` an optional JSON object text with event-specific fields.
local function emit(K, maxlen, etype, extra, data)
  local args = { 'XADD', K.events, 'MAXLEN', '~', maxlen, '*', 'type', etype }
  for i = 1, #extra, 2 do
    if not is_null(extra[i + 1]) then
      args[#args + 1] = extra[i]
      args[#args + 1] = extra[i + 1]
    end
  end
  if data ~= nil then
    args[#args + 1] = 'data'
    args[#args + 1] = data
  end
  return redis.call(unpack(args))
end
