// The blog scenario through the client orval generates with its default settings (axios,
// ./orval/blog.ts), written as a user writes it. `node scenario_orval.js BASE_URL` prints one
// JSON line per step: {"step": name, "ok": bool, "detail": text}. It is type-checked with
// `tsc --strict` together with the generated client.
import axios, { isAxiosError } from "axios";
import type { AxiosResponse } from "axios";
import {
  createAuthor,
  createPost,
  deletePost,
  getPost,
  listPartialPost,
  listPost,
  modifyPost,
  patchPost,
  replacePost,
  restorePost,
  switchPost,
} from "./orval/blog.js";
import type { Post, PostOutput, Problem } from "./orval/blog.js";

class StepFailed extends Error {}

function check(condition: boolean, message: string): void {
  if (!condition) throw new StepFailed(message);
}

function etagOf(response: AxiosResponse<unknown>): string {
  const value: unknown = response.headers["etag"];
  check(typeof value === "string", `no ETag on a ${response.status} response`);
  return String(value);
}

/** The typed problem a failing call answers (axios rejects every non-2xx response). */
async function expectProblem(
  call: Promise<AxiosResponse<unknown>>,
  status: number,
  code: string,
): Promise<Problem> {
  let answered = 0;
  try {
    answered = (await call).status;
  } catch (exc) {
    if (!isAxiosError<Problem>(exc) || exc.response === undefined) throw exc;
    check(exc.response.status === status, `expected ${status}, got ${exc.response.status}`);
    const found = exc.response.data;
    check(found.code === code, `expected problem code ${code}, got ${found.code}`);
    check(found.status === status, `problem status ${found.status}`);
    return found;
  }
  throw new StepFailed(`expected ${status}, got ${answered}`);
}

axios.defaults.baseURL = process.argv[2];
let authorId = "";
const posts = new Map<string, string>();

function idOf(slug: string): string {
  const id = posts.get(slug);
  check(id !== undefined, `no post ${slug}`);
  return id ?? "";
}

async function read(id: string): Promise<[PostOutput, string]> {
  const response = await getPost(id);
  // A full read: the data is a whole PostOutput.
  const post: PostOutput | undefined = response.data.data;
  check(post !== undefined, "a full read has data");
  return [post as PostOutput, etagOf(response)];
}

async function newPost(slug: string, title: string, user: string): Promise<void> {
  const response = await createPost(
    { slug, title, author_id: authorId },
    {},
    { headers: { "X-User": user } },
  );
  check(response.status === 201, `create ${slug}: ${response.status}`);
  const info = response.data;
  check(etagOf(response) === `"${info.revision_id}"`, "ETag is not the revision id");
  check(info.created_by === user, `created_by ${info.created_by}`);
  posts.set(slug, info.resource_id);
}

async function create(): Promise<void> {
  const response = await createAuthor(
    { handle: "ada", name: "Ada Lovelace" },
    {},
    { headers: { "X-User": "ada" } },
  );
  check(response.status === 201, `create author: ${response.status}`);
  authorId = response.data.resource_id;
  for (let i = 0; i < 4; i++) await newPost(`post-${i}`, `Post ${i}`, "ada");
  await newPost("post-4", "Post 4", "bob");
  await newPost("post-5", "Post 5", "carol");
}

async function get(): Promise<void> {
  const response = await getPost(idOf("post-0"));
  check(response.status === 200 && response.data.data !== undefined, "GET");
  const post = response.data.data!;
  const title: string = post.title;
  const tags: string[] = post.tags;
  check(title === "Post 0", `title ${title}`);
  check(post.body === "" && tags.length === 0, "defaults were not filled in");
  check(post.published_at === null, `published_at ${post.published_at}`);
  const revision = response.data.info!.revision_id;
  check(etagOf(response) === `"${revision}"`, "ETag is not the revision read");
}

async function datetimes(): Promise<void> {
  const when = "2024-05-01T12:30:00Z";
  const created = await createPost({
    slug: "dated",
    title: "Dated",
    author_id: authorId,
    published_at: when,
  });
  const [post] = await read(created.data.resource_id);
  const got = post.published_at ?? "";
  check(Date.parse(got) === Date.parse(when), `published_at ${got}`);
  await deletePost(created.data.resource_id);
}

async function listFilters(): Promise<void> {
  // parts of each item's data: the partial listing (axios sends lists as `created_by[]=bob`)
  const response = await listPartialPost({
    qb: 'title.starts_with("Post")',
    created_by: ["bob", "carol"],
    partial: ["title", "slug"],
    returns: ["data", "info"],
    sorts: ["-title"],
    include_total: true,
  });
  check(response.headers["x-total-count"] === "2", "X-Total-Count is not 2");
  const titles = response.data.map((item) => {
    check(item.meta === undefined, "meta was returned although not asked for");
    check(item.data !== undefined && !("body" in item.data), "partial data holds more");
    return item.data?.title ?? "";
  });
  check(JSON.stringify(titles) === '["Post 5","Post 4"]', `listed ${titles}`);
  // whole items of the same filter, newest first
  const full = await listPost({ created_by: ["bob", "carol"], sorts: ["-$created_time"] });
  const slugs = full.data.map((item) => item.data?.slug ?? "");
  check(slugs.join() === "post-5,post-4", `full listing gave ${slugs}`);
  const none = await listPost({ qb: 'tags.contains("none")' });
  check(none.data.length === 0, "a filter matching none");
}

async function cursorPaging(): Promise<void> {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const response = await listPost({
      qb: 'title.starts_with("Post")',
      limit: 2,
      sorts: ["title"],
      cursor,
    });
    for (const item of response.data) seen.push(item.data?.slug ?? "");
    const next: unknown = response.headers["x-next-cursor"];
    const more: unknown = response.headers["x-has-more"];
    check((more === "true") === (typeof next === "string"), `X-Has-More ${String(more)}`);
    if (typeof next !== "string") break;
    cursor = next;
  }
  const want = ["post-0", "post-1", "post-2", "post-3", "post-4", "post-5"];
  check(JSON.stringify(seen) === JSON.stringify(want), `cursor pages gave ${seen}`);
}

async function putIfMatch(): Promise<void> {
  const id = idOf("post-1");
  const [post, tag] = await read(id);
  const changed: Post = { ...post, title: "Post 1, revised" };
  const put = await replacePost(id, changed, {}, { headers: { "If-Match": tag } });
  const revision = put.data.revision_id;
  check(etagOf(put) === `"${revision}"` && revision !== tag, "PUT did not move the ETag");
  const stale = replacePost(id, post, {}, { headers: { "If-Match": tag } });
  const found = await expectProblem(stale, 412, "precondition_failed");
  check(found.actual === revision, `412 names ${found.actual}`);
  check((await read(id))[0].title === "Post 1, revised", "the stale PUT changed the data");
}

async function jsonPatch(): Promise<void> {
  const id = idOf("post-2");
  const [, tag] = await read(id);
  const ops = [
    { op: "replace" as const, path: "/title", value: "Patched" },
    { op: "add" as const, path: "/tags/-", value: "json" },
  ];
  const response = await patchPost(id, ops, {}, { headers: { "If-Match": tag } });
  check(response.status === 200, `PATCH: ${response.status}`);
  const [post] = await read(id);
  check(post.title === "Patched" && post.tags.join() === "json", `${post.title} ${post.tags}`);
}

async function mergePatch(): Promise<void> {
  const id = idOf("post-3");
  const response = await patchPost(id, { title: "Merged", body: "text" });
  check(response.status === 200, `PATCH: ${response.status}`);
  const [post] = await read(id);
  check(post.title === "Merged" && post.body === "text", `${post.title} ${post.body}`);
}

async function draftStaleEtag(): Promise<void> {
  const draft: Post = { slug: "draft", title: "Draft", author_id: authorId };
  const created = await createPost(draft, { status: "draft" });
  check(created.data.status === "draft", `status ${created.data.status}`);
  const id = created.data.resource_id;
  const first = etagOf(created);
  const one = { data: { ...draft, title: "Draft, edit one" } };
  const edit = await modifyPost(id, one, { headers: { "If-Match": first } });
  check(etagOf(edit) !== first, "modifying the draft did not change its ETag");
  const two = { data: { ...draft, title: "Draft, edit two" } };
  await expectProblem(
    modifyPost(id, two, { headers: { "If-Match": first } }),
    412,
    "precondition_failed",
  );
  check((await read(id))[0].title === "Draft, edit one", "the stale edit overwrote the first");
}

async function remove(): Promise<void> {
  const id = idOf("post-0");
  const response = await deletePost(id);
  check(response.data.is_deleted === true, "the meta does not say deleted");
  await expectProblem(getPost(id), 410, "gone");
}

async function restore(): Promise<void> {
  const id = idOf("post-0");
  const response = await restorePost(id);
  check(response.data.is_deleted === false, "the meta still says deleted");
  check((await read(id))[0].title === "Post 0", "the restored post reads differently");
}

async function switchRevision(): Promise<void> {
  const id = idOf("post-1");
  const response = await switchPost(id, `${id}:1`);
  check(response.data.current_revision_id === `${id}:1`, "the pointer did not move");
  const [post, tag] = await read(id);
  check(post.title === "Post 1" && tag === `"${id}:1"`, `after switch: ${post.title}`);
}

async function problems(): Promise<void> {
  await expectProblem(getPost("post:nothing-here"), 404, "not_found");
  const copy = createPost({ slug: "post-2", title: "Copy", author_id: authorId });
  const taken = await expectProblem(copy, 409, "unique_violation");
  check(taken.field === "slug", `field ${taken.field}`);
  check(taken.conflicting_resource_id === idOf("post-2"), "wrong conflicting id");
  const bad = createPost({ slug: "Not A Slug", title: "T", author_id: authorId });
  const invalid = await expectProblem(bad, 422, "validation_error");
  const errors = invalid.errors ?? [];
  check(errors.length >= 1 && errors[0].loc === "/slug", `errors ${JSON.stringify(errors)}`);
}

async function validationEveryError(): Promise<void> {
  const bad = createPost({ slug: "Not A Slug", title: "", author_id: authorId });
  const invalid = await expectProblem(bad, 422, "validation_error");
  const locs = (invalid.errors ?? []).map((e) => e.loc).sort();
  check(locs.join() === "/slug,/title", `errors reported for ${locs}, not /slug and /title`);
}

const steps: [string, () => Promise<void>][] = [
  ["create", create],
  ["get", get],
  ["datetimes", datetimes],
  ["list_filters", listFilters],
  ["cursor_paging", cursorPaging],
  ["put_if_match", putIfMatch],
  ["json_patch", jsonPatch],
  ["merge_patch", mergePatch],
  ["draft_stale_etag", draftStaleEtag],
  ["delete", remove],
  ["restore", restore],
  ["switch", switchRevision],
  ["problems", problems],
  ["validation_every_error", validationEveryError],
];

for (const [step, run] of steps) {
  let ok = true;
  let detail = "";
  try {
    await run();
  } catch (exc) {
    ok = false;
    if (isAxiosError(exc)) {
      const body = JSON.stringify(exc.response?.data ?? null).slice(0, 300);
      detail = `AxiosError: ${exc.config?.method} ${exc.config?.url} -> ${exc.response?.status} ${body}`;
    } else {
      detail = exc instanceof Error ? `${exc.name}: ${exc.message}\n${exc.stack ?? ""}` : String(exc);
    }
  }
  console.log(JSON.stringify({ step, ok, detail }));
}
