-- POST one JSON body per line of a file, cycling; each thread starts at its own offset.
-- usage: wrk -s bench/wrk/bodies.lua URL -- BODIES_FILE
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")

local counter = 0
function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

function init(args)
   bodies = {}
   for line in io.lines(args[1]) do
      if #line > 0 then bodies[#bodies + 1] = line end
   end
   n = (id or 0) * 7919
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   n = n + 1
   return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
