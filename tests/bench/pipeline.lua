-- wrk script for the http-pipelined scenario (tests/bench/run): each write carries DEPTH GET requests of
-- the command line's URL, back to back (HTTP/1.1 pipelining); wrk counts every response. DEPTH is the
-- first argument after "--" (default 16): wrk -s tests/bench/pipeline.lua URL -- 16
local depth = 16
local req

init = function(args)
   depth = tonumber(args[1]) or depth
   local one = wrk.format()  -- the URL's method, path and headers (Host)
   req = string.rep(one, depth)
end

request = function()
   return req
end
