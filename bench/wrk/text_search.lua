-- POST a text search whose text is new on every request, so the embedding cache never
-- answers and every request costs one embedding (alone or in a batch). RUN must differ
-- between runs against one server (a warm-up, then the measured run): texts repeat per RUN.
-- usage: wrk -s bench/wrk/text_search.lua URL -- LIMIT RUN
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")

local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

local words = {
   "ransomware", "phishing", "laptop", "stolen", "hospital", "bank", "records", "exposed",
   "employee", "email", "database", "misconfigured", "patients", "card", "skimming",
   "insider", "vendor", "breach", "passwords", "school", "credit", "union", "cloud",
   "bucket", "payroll", "mailbox", "unencrypted", "drive", "retail", "customers",
}

function init(args)
   limit = tonumber(args[1] or "10")
   run = args[2] or "0"
   n = 0
   math.randomseed(1000 + (id or 0))
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   n = n + 1
   local parts = {}
   for i = 1, 6 do parts[i] = words[math.random(#words)] end
   local text = table.concat(parts, " ") .. " case " .. run .. "-" .. (id or 0) .. "-" .. n
   return wrk.format(nil, nil, nil,
      string.format('{"text": "%s", "limit": %d}', text, limit))
end
