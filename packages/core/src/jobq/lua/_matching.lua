-- jobq: matching rules, the Lua twin of jobq/matching.py (a property test keeps them equal).
-- A worker is a decoded WorkerCapabilities JSON object; prepare_worker adds lookup sets.

local function as_set(list)
  local set = {}
  if type(list) == 'table' then
    for _, v in ipairs(list) do set[v] = true end
  end
  return set
end

local function prepare_worker(worker)
  worker.gpu = tonumber(worker.gpu_memory) or 0
  worker.model_set = as_set(worker.model_types)
  worker.cap_set = as_set(worker.capabilities)
  worker.service_set = as_set(worker.services)
  worker.allowed_set = as_set(worker.customers_allowed)
  worker.any_customer = type(worker.customers_allowed) ~= 'table' or #worker.customers_allowed == 0
  worker.denied_set = as_set(worker.customers_denied)
  if is_null(worker.pool_type) then worker.pool_type = nil end
  return worker
end

local function customer_allows(worker, req)
  local customer = req.customer_id
  if is_null(customer) then return req.isolation ~= 'dedicated' end
  if worker.denied_set[customer] then return false end
  if req.isolation == 'dedicated' then return worker.allowed_set[customer] == true end
  return worker.any_customer or worker.allowed_set[customer] == true
end

-- 0: pool match (or no preference), 1: cross-pool fallback, nil: may not run it.
local function match_tier(worker, req)
  if worker.gpu < (tonumber(req.gpu_memory) or 0) then return nil end
  if not is_null(req.model_type) and not worker.model_set[req.model_type] then return nil end
  if type(req.capabilities) == 'table' then
    for _, cap in ipairs(req.capabilities) do
      if not worker.cap_set[cap] then return nil end
    end
  end
  if not is_null(req.service) and not worker.service_set[req.service] then return nil end
  if not customer_allows(worker, req) then return nil end
  local pool = req.pool_preference
  if is_null(pool) or worker.pool_type == nil or pool == worker.pool_type then return 0 end
  if req.pool_strict == true then return nil end
  return 1
end

local function decode_worker(text)
  local ok, worker = pcall(cjson.decode, text)
  if not ok or type(worker) ~= 'table' or is_null(worker.worker_id) then
    raise(ERR.VALIDATION_ERROR, 'validation failed: worker capabilities must be a JSON object with worker_id')
  end
  return prepare_worker(worker)
end
