#!/usr/bin/env node
// coder-action.mjs: Coder's GitHub Action coder/create-task-action, call
// by call, as a standalone program (written for taskbox from the action's
// documented behaviour; none of its code is copied). The contract test
// (tests/integration/coder-action.test.mjs) runs it as a child process
// the way a GitHub runner runs the action:
//
//   inputs   INPUT_<NAME> environment variables, NAME upper-cased with
//            spaces as '_' (INPUT_CODER-URL, INPUT_CODER-TOKEN, ...); the
//            runner fills the defaults of action.yaml (coder-organization
//            "default", coder-task-name-prefix "gh", comment-on-issue
//            "true"): so must the caller
//   outputs  coder-username, task-name, task-url, task-created, appended
//            to the file GITHUB_OUTPUT names (@actions/core)
//   GitHub   GITHUB_API_URL: @actions/github reads it when it loads
//   failure  exit status 1, "::error::MESSAGE" on stdout (core.setFailed)
//            and, on stderr, the HTTP status and body of a failed call
//
// The steps: resolve the Coder user (GET /api/v2/users?q=github_com_user_id:N
// unless coder-username is given), GET the template by organization and
// name, GET its active version's presets and pick the named one or the
// default, list the owner's tasks on the experimental API to find the
// task gh-<issue number>; when it exists, poll it until it is active and
// idle for a stable while, then POST its /send; otherwise POST a new task
// and comment "Task created: URL" on the issue (updating the last such
// comment). Every call sends Coder-Session-Token and Content-Type:
// application/json, and every reply is parsed with zod schemas as strict
// as the action's (uuid ids, a valid email, Coder's status and state
// enums), so a reply taskbox shapes wrongly fails here as it would there.
//
// Test knobs (not the action's; defaults are the action's):
//   TASKBOX_ACTION_POLL_MS         poll interval of the wait (2000)
//   TASKBOX_ACTION_STABLE_IDLE_MS  active+idle time required (30000)
//   TASKBOX_ACTION_WAIT_MS         the wait's timeout (1200000)
//   TASKBOX_ACTION_TRACE           a file: one JSON line per Coder call
//                                  {method, path, status}
// Modules come from $TASKBOX_NODE_MODULES (tests/package.json pins the
// versions the action locks: zod 3, @actions/core 1, @actions/github 6).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const modules = process.env.TASKBOX_NODE_MODULES;
if (!modules) {
  process.stdout.write('::error::TASKBOX_NODE_MODULES is not set\n');
  process.exit(1);
}
const load = createRequire(path.join(path.resolve(modules), 'noop.js'));
const core = load('@actions/core');
const { z } = load('zod');
const github = load('@actions/github');

// knob NAME: a positive integer from the environment, else def.
function knob(name, def) {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : def;
}
const POLL_MS = knob('TASKBOX_ACTION_POLL_MS', 2000);
const STABLE_IDLE_MS = knob('TASKBOX_ACTION_STABLE_IDLE_MS', 30000);
const WAIT_MS = knob('TASKBOX_ACTION_WAIT_MS', 1200000);

// --- the contract: what the action accepts of Coder's replies ---

const uuid = z.string().uuid();
const User = z.object({
  id: uuid,
  username: z.string(),
  email: z.string().email(),
  organization_ids: z.array(uuid),
  github_com_user_id: z.number().optional(),
});
const UserList = z.object({ users: z.array(User) });
const Template = z.object({
  id: uuid,
  name: z.string(),
  description: z.string().optional(),
  organization_id: uuid,
  active_version_id: uuid,
});
const Preset = z.object({ ID: uuid, Name: z.string(), Default: z.boolean() });
const PresetList = z.array(Preset);
const TaskStatus = z.enum(['pending', 'initializing', 'active', 'paused', 'unknown', 'error']);
const TaskState = z.object({ state: z.enum(['idle', 'working', 'complete', 'failed']) });
const Task = z.object({
  id: uuid,
  name: z.string().min(1),
  owner_id: uuid,
  template_id: uuid,
  created_at: z.string(),
  updated_at: z.string(),
  status: TaskStatus,
  current_state: TaskState.nullable(),
});
const TaskList = z.object({ tasks: z.array(Task) });
const CreateTaskRequest = z.object({
  name: z.string().min(1),
  template_version_id: z.string().min(1),
  template_version_preset_id: z.string().min(1).optional(),
  input: z.string().min(1),
});

const Common = {
  coderTaskPrompt: z.string().min(1),
  coderToken: z.string().min(1),
  coderURL: z.string().url(),
  coderTemplateName: z.string().min(1),
  githubIssueURL: z.string().url(),
  githubToken: z.string(),
  coderOrganization: z.string().min(1).optional().default('default'),
  coderTaskNamePrefix: z.string().min(1).optional().default('gh'),
  coderTemplatePreset: z.string().optional(),
  commentOnIssue: z.boolean().default(true),
};
// exactly one identity: a GitHub user id or a Coder username
const Inputs = z.union([
  z.object({ ...Common, githubUserID: z.number().min(1), coderUsername: z.undefined() }),
  z.object({ ...Common, githubUserID: z.undefined(), coderUsername: z.string().min(1) }),
]);

// A Coder call that failed: the status and the body taskbox answered.
class CoderError extends Error {
  constructor(message, status, body) {
    super(message);
    this.name = 'CoderError';
    this.status = status;
    this.body = body;
  }
}

// The task vanished while it was polled (two 404s in a row).
class TaskGone extends Error {}

// --- the Coder client ---

// One call to Coder at endpoint (path and query): the parsed JSON, or
// undefined for an empty reply; throws CoderError on a non-2xx status.
async function coder(inputs, endpoint, { method = 'GET', body } = {}) {
  const r = await fetch(inputs.coderURL + endpoint, {
    method,
    headers: { 'Coder-Session-Token': inputs.coderToken, 'Content-Type': 'application/json' },
    body,
  });
  const trace = process.env.TASKBOX_ACTION_TRACE;
  if (trace)
    fs.appendFileSync(trace, JSON.stringify({ method, path: endpoint, status: r.status }) + '\n');
  if (!r.ok) {
    const text = await r.text().catch(() => '');
    throw new CoderError(`Coder API error: ${r.statusText}`, r.status, text);
  }
  if (r.status === 204 || r.headers.get('content-length') === '0') return undefined;
  return r.json();
}

const q = encodeURIComponent;

// The one user whose linked GitHub account has id ghId.
async function userByGitHubId(inputs, ghId) {
  const list = UserList.parse(await coder(inputs, `/api/v2/users?q=${q(`github_com_user_id:${ghId}`)}`));
  if (list.users.length === 0)
    throw new CoderError(`No Coder user found with GitHub user ID ${ghId}`, 404);
  if (list.users.length > 1)
    throw new CoderError(`Multiple Coder users found with GitHub user ID ${ghId}`, 409);
  return list.users[0];
}

// The owner's task named name on the experimental API, or null.
async function findTask(inputs, owner, name) {
  try {
    const list = TaskList.parse(await coder(inputs, `/api/experimental/tasks?q=${q(`owner:${owner}`)}`));
    return list.tasks.find((t) => t.name === name) ?? null;
  } catch (e) {
    if (e instanceof CoderError && e.status === 404) return null;
    throw e;
  }
}

// Poll the task until it has been active with an idle agent for
// STABLE_IDLE_MS; a task in error fails, two 404s in a row mean it is gone.
async function waitActiveIdle(inputs, owner, id) {
  const start = Date.now();
  let idleSince = null;
  let missing = 0;
  while (Date.now() - start < WAIT_MS) {
    let t;
    try {
      t = Task.parse(await coder(inputs, `/api/experimental/tasks/${q(owner)}/${q(id)}`));
    } catch (e) {
      if (!(e instanceof CoderError && e.status === 404)) throw e;
      if (++missing >= 2) throw new TaskGone(`task ${id} returned 404 during polling`);
      await sleep(POLL_MS);
      continue;
    }
    missing = 0;
    if (t.status === 'error')
      throw new CoderError('Task entered error state while waiting for active state', 500, JSON.stringify(t));
    const idle = t.status === 'active' && t.current_state?.state === 'idle';
    core.debug(`wait: ${t.status}/${t.current_state?.state}`);
    if (!idle) idleSince = null;
    else if (idleSince === null) idleSince = Date.now();
    if (idleSince !== null && Date.now() - idleSince >= STABLE_IDLE_MS) return;
    await sleep(POLL_MS);
  }
  throw new CoderError(`Timeout waiting for task to reach active state (waited ${WAIT_MS}ms)`, 408);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the action ---

// The inputs as the action reads them from the runner's environment.
function readInputs() {
  const ghId = core.getInput('github-user-id');
  return Inputs.parse({
    coderURL: core.getInput('coder-url', { required: true }),
    coderToken: core.getInput('coder-token', { required: true }),
    coderTemplateName: core.getInput('coder-template-name', { required: true }),
    coderTaskPrompt: core.getInput('coder-task-prompt', { required: true }),
    coderOrganization: core.getInput('coder-organization', { required: true }),
    coderTaskNamePrefix: core.getInput('coder-task-name-prefix', { required: true }),
    githubIssueURL: core.getInput('github-issue-url', { required: true }),
    githubToken: core.getInput('github-token', { required: true }),
    githubUserID: ghId ? Number.parseInt(ghId, 10) : undefined,
    coderUsername: core.getInput('coder-username') || undefined,
    coderTemplatePreset: core.getInput('coder-template-preset') || undefined,
    commentOnIssue: core.getBooleanInput('comment-on-issue'),
  });
}

// {owner, repo, number} of an issue URL .../OWNER/REPO/issues/N.
function parseIssue(url) {
  const m = /([^/]+)\/([^/]+)\/issues\/(\d+)/.exec(url);
  if (!m) throw new Error(`Invalid issue URL: ${url}`);
  return { owner: m[1], repo: m[2], number: Number.parseInt(m[3], 10) };
}

// The task's page on Coder: the deployment URL without query or anchor.
function taskUrl(inputs, owner, id) {
  const base = inputs.coderURL.split(/[?#]/)[0].replace(/\/$/, '');
  return `${base}/tasks/${owner}/${id}`;
}

// Comment "Task created: URL" on the issue, editing the last comment that
// starts so; a failure is reported, never fatal (as the action).
async function comment(inputs, issue, url) {
  const body = `Task created: ${url}`;
  try {
    const octokit = github.getOctokit(inputs.githubToken);
    const { data } = await octokit.rest.issues.listComments({
      owner: issue.owner, repo: issue.repo, issue_number: issue.number,
    });
    const last = data.reverse().find((c) => c.body?.startsWith('Task created:'));
    if (last)
      await octokit.rest.issues.updateComment({ owner: issue.owner, repo: issue.repo, comment_id: last.id, body });
    else
      await octokit.rest.issues.createComment({ owner: issue.owner, repo: issue.repo, issue_number: issue.number, body });
  } catch (e) {
    core.error(`Failed to comment on issue: ${e}`);
  }
}

// The preset id to create with: the named preset's, else the default's
// (undefined when the template has none); a named preset that is missing
// fails.
function pickPreset(presets, name) {
  const p = name ? presets.find((x) => x.Name === name) : presets.find((x) => x.Default);
  if (name && !p) throw new Error(`Preset ${name} not found`);
  return p?.ID;
}

// The action's run: returns its outputs.
async function run(inputs) {
  let owner = inputs.coderUsername;
  if (!owner) {
    core.info(`Looking up Coder user by GitHub user ID: ${inputs.githubUserID}`);
    owner = (await userByGitHubId(inputs, inputs.githubUserID)).username;
  }
  const issue = parseIssue(inputs.githubIssueURL);
  const name = z.string().min(1).parse(`${inputs.coderTaskNamePrefix}-${issue.number}`);
  core.info(`Coder username: ${owner}, task name: ${name}`);
  const template = Template.parse(await coder(inputs,
    `/api/v2/organizations/${q(inputs.coderOrganization)}/templates/${q(inputs.coderTemplateName)}`));
  const presets = PresetList.parse(await coder(inputs,
    `/api/v2/templateversions/${q(template.active_version_id)}/presets`));
  const presetId = pickPreset(presets, inputs.coderTemplatePreset);
  core.info(`Template ${template.name} (version ${template.active_version_id}), preset ${presetId}`);

  const existing = await findTask(inputs, owner, name);
  if (existing) {
    core.info(`Task ${existing.name} exists (id ${existing.id}, ${existing.status}): waiting for active and idle`);
    try {
      await waitActiveIdle(inputs, owner, existing.id);
      // the action puts the owner and id into this path unescaped
      await coder(inputs, `/api/experimental/tasks/${owner}/${existing.id}/send`, {
        method: 'POST', body: JSON.stringify({ input: inputs.coderTaskPrompt }),
      });
      core.info('Prompt sent');
      return { owner, name: existing.name, url: taskUrl(inputs, owner, existing.id), created: false };
    } catch (e) {
      if (!(e instanceof TaskGone || (e instanceof CoderError && e.status === 404))) throw e;
      core.warning(`Lost contact with task '${existing.name}' (404 during polling). Creating a new task.`);
    }
  }

  const req = CreateTaskRequest.parse({
    name,
    template_version_id: template.active_version_id,
    template_version_preset_id: presetId,
    input: inputs.coderTaskPrompt,
  });
  const task = Task.parse(await coder(inputs, `/api/experimental/tasks/${q(owner)}`, {
    method: 'POST', body: JSON.stringify(req),
  }));
  const url = taskUrl(inputs, owner, task.id);
  core.info(`Task created (${task.status}): ${url}`);
  if (inputs.commentOnIssue) await comment(inputs, issue, url);
  return { owner, name, url, created: true };
}

try {
  const out = await run(readInputs());
  core.setOutput('coder-username', out.owner);
  core.setOutput('task-name', out.name);
  core.setOutput('task-url', out.url);
  core.setOutput('task-created', String(out.created));
} catch (e) {
  core.setFailed(e instanceof Error ? e.message : String(e));
  if (e instanceof CoderError && e.status !== undefined)
    process.stderr.write(`HTTP status: ${e.status}\nbody: ${e.body ?? ''}\n`);
  process.exit(1);
}
