-- wrk script: PATCH the pages of jobs/demo-seed.json in turn with one valid body.
-- Usage: wrk -t1 -c16 -d10s -s benches/wrk/patch.lua http://127.0.0.1:PORT
-- With GENERATED_PAGES=N, the pages of a generated seed (00000000-0000-4000-8000-<i>, i = 1..N,
-- as benches/e2e/generate.py writes) instead; TOKEN overrides the bearer token.
local pages = {
  "8d116ece-1738-47d9-bd9c-172411e20b8f",
  "90c192cf-d3ac-44af-8f21-ddb66cad4a26",
  "a170b338-3926-4059-b28c-105d1fb17c23",
  "0fd630f1-f29d-4da9-953f-48f1a09f76b5",
  "0cb1e29c-658c-4a14-95e6-0af593bd04cf",
  "8e81973e-0bec-47b0-b898-d190f9ebdacc",
  "6b4cb242-4a23-4596-a217-beaddbc496cb",
  "92276658-1e27-41c0-8a6a-63ec24ede6a4",
  "ae97ba94-d0ed-482f-8f6d-05584ef8aa38",
  "923a7369-94e3-4f91-9a61-dbe22e44158b",
  "18f135d2-5f55-4203-b018-50c5a38fd547",
  "907a70c3-1012-4037-b64c-e4228c38fb29",
  "7f150524-34b9-45df-9e77-69b10f4205b4",
  "c6f87718-6d76-407e-881e-d162ae2eb154",
  "ec66a787-95e7-41d1-b731-af10506bf2ef",
  "3f98e277-4cbd-47ad-9c90-a9587403e430",
  "c7a2ea20-b2f1-4c94-ae05-319acb5c7427",
  "4cdd2055-930d-4eaf-94f4-733f3e7d1bfb",
  "57ee05cd-e009-42c7-bebf-f20686734721"
}
local generated = tonumber(os.getenv("GENERATED_PAGES") or "")
if generated then
  pages = {}
  for i = 1, generated do
    pages[i] = string.format("00000000-0000-4000-8000-%012x", i)
  end
end
local body = '{"properties":{"Status":{"status":{"name":"In progress"}},"Estimate":{"number":5},"Tags":{"multi_select":[{"name":"backend"},{"name":"docs"}]},"Done":{"checkbox":true}}}'
local i = 0

wrk.method = "PATCH"
wrk.body = body
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "secret_sandbox")
wrk.headers["Notion-Version"] = "2025-09-03"
wrk.headers["Content-Type"] = "application/json"

request = function()
  i = i % #pages + 1
  return wrk.format(nil, "/v1/pages/" .. pages[i])
end

done = function(summary, latency, requests)
  io.write(string.format("requests: %d, non-2xx: %d, socket errors: %d\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
