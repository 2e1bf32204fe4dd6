-- POST pre-drawn searches, one "path<TAB>json body" per line of a file, cycling; each
-- thread starts at its own offset. usage: wrk -s bench/wrk/zipf.lua URL -- FILE [PAUSE_MS]
-- PAUSE_MS > 0 makes each connection wait that long between a response and its next
-- request, so the server runs below saturation and latency is service, not queueing.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")

local counter = 0
function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

function init(args)
   paths, bodies = {}, {}
   for line in io.lines(args[1]) do
      local tab = line:find("\t", 1, true)
      if tab then
         paths[#paths + 1] = line:sub(1, tab - 1)
         bodies[#bodies + 1] = line:sub(tab + 1)
      end
   end
   n = (id or 0) * 7919
   pause_ms = tonumber(args[2] or "0")
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function delay()
   return pause_ms
end

function request()
   n = n + 1
   local i = (n % #bodies) + 1
   return wrk.format(nil, paths[i], nil, bodies[i])
end
