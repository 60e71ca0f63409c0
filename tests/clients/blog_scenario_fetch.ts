// The blog scenario through the types openapi-typescript generates (./fetch/schema.ts) and
// openapi-fetch, written as a user writes it. `node scenario_fetch.js BASE_URL` prints one JSON
// line per step: {"step": name, "ok": bool, "detail": text}. It is type-checked with
// `tsc --strict` together with the generated types.
import createClient from "openapi-fetch";
import type { components, paths } from "./fetch/schema.js";

type Post = components["schemas"]["Post"];
type PostOutput = components["schemas"]["PostOutput"];
type Problem = components["schemas"]["Problem"];

class StepFailed extends Error {}

function check(condition: boolean, message: string): void {
  if (!condition) throw new StepFailed(message);
}

function etagOf(response: Response): string {
  const value = response.headers.get("etag");
  check(value !== null, `no ETag on a ${response.status} response`);
  return value ?? "";
}

function expectProblem(
  response: Response,
  error: Problem | undefined,
  status: number,
  code: string,
): Problem {
  check(response.status === status, `expected ${status}, got ${response.status}`);
  check(error !== undefined, "no problem document");
  const found = error as Problem;
  check(found.code === code, `expected problem code ${code}, got ${found.code}`);
  check(found.status === status, `problem status ${found.status}`);
  return found;
}

const baseUrl = process.argv[2];
const client = createClient<paths>({ baseUrl });
let authorId = "";
const posts = new Map<string, string>();

function idOf(slug: string): string {
  const id = posts.get(slug);
  check(id !== undefined, `no post ${slug}`);
  return id ?? "";
}

async function read(id: string): Promise<[PostOutput, string]> {
  const { data, response } = await client.GET("/post/{resource_id}", {
    params: { path: { resource_id: id } },
  });
  check(response.status === 200 && data !== undefined, `GET ${id}: ${response.status}`);
  // A full read: the data is a whole PostOutput.
  const post: PostOutput | undefined = data?.data;
  check(post !== undefined, "a full read has data");
  return [post as PostOutput, etagOf(response)];
}

async function newPost(slug: string, title: string, user: string): Promise<void> {
  const { data, response } = await client.POST("/post", {
    body: { slug, title, author_id: authorId },
    params: { header: { "x-user": user } },
  });
  check(response.status === 201 && data !== undefined, `create ${slug}: ${response.status}`);
  const info = data!;
  check(etagOf(response) === `"${info.revision_id}"`, "ETag is not the revision id");
  check(info.created_by === user, `created_by ${info.created_by}`);
  posts.set(slug, info.resource_id);
}

async function create(): Promise<void> {
  const { data, response } = await client.POST("/author", {
    body: { handle: "ada", name: "Ada Lovelace" },
    params: { header: { "x-user": "ada" } },
  });
  check(response.status === 201 && data !== undefined, `create author: ${response.status}`);
  authorId = data!.resource_id;
  for (let i = 0; i < 4; i++) await newPost(`post-${i}`, `Post ${i}`, "ada");
  await newPost("post-4", "Post 4", "bob");
  await newPost("post-5", "Post 5", "carol");
}

async function get(): Promise<void> {
  const id = idOf("post-0");
  const { data, response } = await client.GET("/post/{resource_id}", {
    params: { path: { resource_id: id } },
  });
  check(response.status === 200 && data?.data !== undefined, `GET: ${response.status}`);
  const post = data!.data!;
  const title: string = post.title;
  const tags: string[] = post.tags;
  check(title === "Post 0", `title ${title}`);
  check(post.body === "" && tags.length === 0, "defaults were not filled in");
  check(post.published_at === null, `published_at ${post.published_at}`);
  check(etagOf(response) === `"${data!.info!.revision_id}"`, "ETag is not the revision read");
}

async function datetimes(): Promise<void> {
  const when = "2024-05-01T12:30:00Z";
  const { data, response } = await client.POST("/post", {
    body: { slug: "dated", title: "Dated", author_id: authorId, published_at: when },
  });
  check(response.status === 201 && data !== undefined, `create: ${response.status}`);
  const [post] = await read(data!.resource_id);
  const got = post.published_at ?? "";
  check(Date.parse(got) === Date.parse(when), `published_at ${got}`);
  await client.DELETE("/post/{resource_id}", {
    params: { path: { resource_id: data!.resource_id } },
  });
}

async function listFilters(): Promise<void> {
  // parts of each item's data: the partial listing
  const { data, response } = await client.GET("/post/_partial", {
    params: {
      query: {
        qb: 'title.starts_with("Post")',
        created_by: ["bob", "carol"],
        partial: ["title", "slug"],
        returns: ["data", "info"],
        sorts: ["-title"],
        include_total: true,
      },
    },
  });
  check(response.status === 200 && data !== undefined, `list: ${response.status}`);
  check(response.headers.get("x-total-count") === "2", "X-Total-Count is not 2");
  const titles = data!.map((item) => {
    check(item.meta === undefined, "meta was returned although not asked for");
    check(item.data !== undefined && !("body" in item.data), "partial data holds more");
    return item.data?.title ?? "";
  });
  check(JSON.stringify(titles) === '["Post 5","Post 4"]', `listed ${titles}`);
  // whole items of the same filter, newest first
  const full = await client.GET("/post", {
    params: { query: { created_by: ["bob", "carol"], sorts: ["-$created_time"] } },
  });
  check(full.response.status === 200 && full.data !== undefined, `list: ${full.response.status}`);
  const slugs = full.data!.map((item) => item.data?.slug ?? "");
  check(slugs.join() === "post-5,post-4", `full listing gave ${slugs}`);
  const none = await client.GET("/post", {
    params: { query: { qb: 'tags.contains("none")' } },
  });
  check(none.response.status === 200 && none.data?.length === 0, "a filter matching none");
}

async function cursorPaging(): Promise<void> {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const { data, response } = await client.GET("/post", {
      params: { query: { qb: 'title.starts_with("Post")', limit: 2, sorts: ["title"], cursor } },
    });
    check(response.status === 200 && data !== undefined, `page: ${response.status}`);
    for (const item of data!) seen.push(item.data?.slug ?? "");
    const next = response.headers.get("x-next-cursor");
    const more = response.headers.get("x-has-more");
    check((more === "true") === (next !== null), `X-Has-More ${more}`);
    if (next === null) break;
    cursor = next;
  }
  const want = ["post-0", "post-1", "post-2", "post-3", "post-4", "post-5"];
  check(JSON.stringify(seen) === JSON.stringify(want), `cursor pages gave ${seen}`);
}

async function putIfMatch(): Promise<void> {
  const id = idOf("post-1");
  const [post, tag] = await read(id);
  const path = { resource_id: id };
  const changed: Post = { ...post, title: "Post 1, revised" };
  const put = await client.PUT("/post/{resource_id}", {
    params: { path, header: { "If-Match": tag } },
    body: changed,
  });
  check(put.response.status === 200 && put.data !== undefined, `PUT: ${put.response.status}`);
  const revision = put.data!.revision_id;
  check(etagOf(put.response) === `"${revision}"` && revision !== tag, "ETag did not move");
  const stale = await client.PUT("/post/{resource_id}", {
    params: { path, header: { "If-Match": tag } },
    body: post,
  });
  const found = expectProblem(stale.response, stale.error, 412, "precondition_failed");
  check(found.actual === revision, `412 names ${found.actual}`);
  check((await read(id))[0].title === "Post 1, revised", "the stale PUT changed the data");
}

async function jsonPatch(): Promise<void> {
  const id = idOf("post-2");
  const [, tag] = await read(id);
  const { response } = await client.PATCH("/post/{resource_id}", {
    params: { path: { resource_id: id }, header: { "If-Match": tag } },
    body: [
      { op: "replace", path: "/title", value: "Patched" },
      { op: "add", path: "/tags/-", value: "json" },
    ],
  });
  check(response.status === 200, `PATCH: ${response.status}`);
  const [post] = await read(id);
  check(post.title === "Patched" && post.tags.join() === "json", `${post.title} ${post.tags}`);
}

async function mergePatch(): Promise<void> {
  const id = idOf("post-3");
  const { response } = await client.PATCH("/post/{resource_id}", {
    params: { path: { resource_id: id } },
    body: { title: "Merged", body: "text" },
  });
  check(response.status === 200, `PATCH: ${response.status}`);
  const [post] = await read(id);
  check(post.title === "Merged" && post.body === "text", `${post.title} ${post.body}`);
}

async function draftStaleEtag(): Promise<void> {
  const created = await client.POST("/post", {
    body: { slug: "draft", title: "Draft", author_id: authorId },
    params: { query: { status: "draft" } },
  });
  check(created.response.status === 201 && created.data !== undefined, "create draft");
  check(created.data!.status === "draft", `status ${created.data!.status}`);
  const id = created.data!.resource_id;
  const first = etagOf(created.response);
  const path = { resource_id: id };
  const edit = await client.POST("/post/{resource_id}/modify", {
    params: { path, header: { "If-Match": first } },
    body: { data: { slug: "draft", title: "Draft, edit one", author_id: authorId } },
  });
  check(edit.response.status === 200, `modify: ${edit.response.status}`);
  check(etagOf(edit.response) !== first, "modifying the draft did not change its ETag");
  const stale = await client.POST("/post/{resource_id}/modify", {
    params: { path, header: { "If-Match": first } },
    body: { data: { slug: "draft", title: "Draft, edit two", author_id: authorId } },
  });
  expectProblem(stale.response, stale.error, 412, "precondition_failed");
  check((await read(id))[0].title === "Draft, edit one", "the stale edit overwrote the first");
}

async function remove(): Promise<void> {
  const path = { resource_id: idOf("post-0") };
  const { data, response } = await client.DELETE("/post/{resource_id}", { params: { path } });
  check(response.status === 200 && data?.is_deleted === true, `DELETE: ${response.status}`);
  const gone = await client.GET("/post/{resource_id}", { params: { path } });
  expectProblem(gone.response, gone.error, 410, "gone");
}

async function restore(): Promise<void> {
  const id = idOf("post-0");
  const { data, response } = await client.POST("/post/{resource_id}/restore", {
    params: { path: { resource_id: id } },
  });
  check(response.status === 200 && data?.is_deleted === false, `restore: ${response.status}`);
  check((await read(id))[0].title === "Post 0", "the restored post reads differently");
}

async function switchRevision(): Promise<void> {
  const id = idOf("post-1");
  const { data, response } = await client.POST("/post/{resource_id}/switch/{revision_id}", {
    params: { path: { resource_id: id, revision_id: `${id}:1` } },
  });
  check(response.status === 200 && data !== undefined, `switch: ${response.status}`);
  check(data!.current_revision_id === `${id}:1`, `current ${data!.current_revision_id}`);
  const [post, tag] = await read(id);
  check(post.title === "Post 1" && tag === `"${id}:1"`, `after switch: ${post.title}`);
}

async function problems(): Promise<void> {
  const missing = await client.GET("/post/{resource_id}", {
    params: { path: { resource_id: "post:nothing-here" } },
  });
  expectProblem(missing.response, missing.error, 404, "not_found");
  const copy = await client.POST("/post", {
    body: { slug: "post-2", title: "Copy", author_id: authorId },
  });
  const taken = expectProblem(copy.response, copy.error, 409, "unique_violation");
  check(taken.field === "slug", `field ${taken.field}`);
  check(taken.conflicting_resource_id === idOf("post-2"), "wrong conflicting id");
  const bad = await client.POST("/post", {
    body: { slug: "Not A Slug", title: "T", author_id: authorId },
  });
  const invalid = expectProblem(bad.response, bad.error, 422, "validation_error");
  const errors = invalid.errors ?? [];
  check(errors.length >= 1 && errors[0].loc === "/slug", `errors ${JSON.stringify(errors)}`);
}

async function validationEveryError(): Promise<void> {
  const bad = await client.POST("/post", {
    body: { slug: "Not A Slug", title: "", author_id: authorId },
  });
  const invalid = expectProblem(bad.response, bad.error, 422, "validation_error");
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
    detail = exc instanceof Error ? `${exc.name}: ${exc.message}\n${exc.stack ?? ""}` : String(exc);
  }
  console.log(JSON.stringify({ step, ok, detail }));
}
