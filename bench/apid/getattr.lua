-- wrk script: POST /api/fuse/getattr with a random path of the library each time.
-- The bodies ({"path": "..."}, one per line) come from the file named by the
-- environment variable BODIES, read once per thread.
local bodies = {}

function init(args)
	for line in io.lines(os.getenv("BODIES")) do
		bodies[#bodies + 1] = line
	end
	math.randomseed(os.time() + #bodies + math.floor(os.clock() * 1e6))
end

local headers = {["Content-Type"] = "application/json"}

function request()
	return wrk.format("POST", "/api/fuse/getattr", headers, bodies[math.random(#bodies)])
end
