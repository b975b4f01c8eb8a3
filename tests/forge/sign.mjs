// Signs a webhook body as GitHub does, with Octokit's implementation (not ours):
//   node sign.mjs SECRET < body   ->   sha256=<hex>
import { sign } from "@octokit/webhooks-methods";
import { readFileSync } from "node:fs";

const secret = process.argv[2];
const body = readFileSync(0, "utf8");
process.stdout.write(await sign(secret, body));
