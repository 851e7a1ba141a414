/*
 * test-route.c: the gateway's routing (src/gateway/route.c). Every
 * provider type with the paths its agents send (Claude Code's Messages,
 * count_tokens, Bedrock and Vertex modes; Codex's Responses; Gemini
 * CLI's Gemini API and Vertex modes; Chat Completions for LiteLLM and
 * Ollama): the upstream URL, host, model, formats and auth. Then hostile
 * targets (escapes, dots, authority tricks, controls, length), paths a
 * type does not serve, the error bodies of each format, the key swap and
 * the curl settings (no file://, no redirects followed).
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/route.h"

/* A provider as A's cache would hold it: url is the type's default unless
 * given. */
static struct provider
prov(enum provider_type t, const char *url)
{
	struct provider p = {.refs = 1, .name = "p1", .type = t};

	switch (t) {
	case PROVIDER_ANTHROPIC:
		p.url = "https://api.anthropic.com";
		p.key = "sk-ant-real";
		break;
	case PROVIDER_OPENAI:
		p.url = "https://api.openai.com";
		p.key = "sk-real";
		break;
	case PROVIDER_GEMINI:
		p.url = "https://generativelanguage.googleapis.com";
		p.key = "AIza-real";
		break;
	case PROVIDER_BEDROCK:
		p.url = "https://bedrock-runtime.eu-west-1.amazonaws.com";
		p.region = "eu-west-1";
		p.aws_access_key_id = "AKIDEXAMPLE";
		p.aws_secret_access_key = "secret";
		break;
	case PROVIDER_VERTEX:
		p.url = "https://europe-west4-aiplatform.googleapis.com";
		p.region = "europe-west4";
		p.project = "real-proj";
		p.service_account = "{}";
		break;
	case PROVIDER_OPENAI_COMPATIBLE:
		p.url = "http://litellm.internal:4000";
		p.key = "sk-litellm";
		break;
	case PROVIDER_OLLAMA:
		p.url = "http://127.0.0.1:11434";
		break;
	}
	if (url) {
		p.url = (char *)url;
		p.url_given = true;
	}
	return p;
}

/* Route method target for p; the status. */
static int
route(const struct provider *p, const char *method, const char *target,
      struct gw_route *r, char **cause)
{
	memset(r, 0, sizeof(*r));
	*cause = (char *)1;
	return gw_route(p, method, target, r, cause);
}

/* method target on p routes to url with model (or NULL), format, usage
 * and auth. */
static void
expect(const struct provider *p, const char *method, const char *target,
       const char *url, const char *model, enum gw_format format,
       enum usage_format usage, enum gw_auth auth)
{
	struct gw_route r;
	char *cause;
	int rc = route(p, method, target, &r, &cause);

	if (rc)
		fail_msg("%s %s: %d %s", method, target, rc, cause);
	assert_null(cause);
	assert_string_equal(r.url, url);
	if (model)
		assert_string_equal(r.model, model);
	else
		assert_null(r.model);
	assert_int_equal(r.format, format);
	assert_int_equal(r.usage, usage);
	assert_int_equal(r.auth, auth);
	gw_route_release(&r);
	assert_null(r.url);
}

/* method target on p is refused with status and a cause holding want. */
static void
refuse(const struct provider *p, const char *method, const char *target,
       int status, const char *want)
{
	struct gw_route r;
	char *cause;
	int rc = route(p, method, target, &r, &cause);

	if (rc != status)
		fail_msg("%s %s: got %d (%s), want %d", method, target, rc,
			 rc ? cause : r.url, status);
	assert_non_null(cause);
	if (want && !strstr(cause, want))
		fail_msg("%s: cause '%s' lacks '%s'", target, cause, want);
	assert_null(r.url);
	free(cause);
}

/* Claude Code with an Anthropic key: Messages with ?beta=true and
 * count_tokens go to api.anthropic.com as sent. */
static void
test_anthropic(void **state)
{
	struct provider p = prov(PROVIDER_ANTHROPIC, NULL);
	struct gw_route r;
	char *cause;

	(void)state;
	expect(&p, "POST", "/v1/messages?beta=true",
	       "https://api.anthropic.com/v1/messages?beta=true", NULL,
	       GW_FORMAT_ANTHROPIC, USAGE_ANTHROPIC, GW_AUTH_KEY);
	expect(&p, "POST", "/v1/messages/count_tokens?beta=true",
	       "https://api.anthropic.com/v1/messages/count_tokens?beta=true",
	       NULL, GW_FORMAT_ANTHROPIC, USAGE_ANTHROPIC, GW_AUTH_KEY);
	expect(&p, "GET", "/v1/models?limit=100",
	       "https://api.anthropic.com/v1/models?limit=100", NULL,
	       GW_FORMAT_ANTHROPIC, USAGE_ANTHROPIC, GW_AUTH_KEY);
	assert_int_equal(route(&p, "POST", "/v1/messages", &r, &cause), 0);
	assert_string_equal(r.host, "api.anthropic.com");
	assert_null(r.service);
	gw_route_release(&r);
	/* the Anthropic API serves no OpenAI or Gemini paths */
	refuse(&p, "POST", "/v1/responses", 404, "anthropic");
	refuse(&p, "POST", "/v1/chat/completions", 404, NULL);
	refuse(&p, "POST", "/v1beta/models/gemini-2.5-pro:generateContent", 404,
	       NULL);
	refuse(&p, "GET", "/v1/messages", 405, "GET /v1/messages");
	refuse(&p, "POST", "/v1/messages/", 404, NULL);
	refuse(&p, "POST", "/v1/messages/batches", 404, NULL);
}

/* Codex with an OpenAI key: Responses, models; Chat Completions too. */
static void
test_openai(void **state)
{
	struct provider p = prov(PROVIDER_OPENAI, NULL);

	(void)state;
	expect(&p, "POST", "/v1/responses",
	       "https://api.openai.com/v1/responses", NULL, GW_FORMAT_OPENAI,
	       USAGE_OPENAI_RESPONSES, GW_AUTH_KEY);
	expect(&p, "POST", "/v1/chat/completions",
	       "https://api.openai.com/v1/chat/completions", NULL,
	       GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_KEY);
	expect(&p, "GET", "/v1/models?client_version=0.169.0",
	       "https://api.openai.com/v1/models?client_version=0.169.0", NULL,
	       GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_KEY);
	refuse(&p, "POST", "/v1/messages", 404, NULL);
	refuse(&p, "POST", "/model/x/invoke", 404, NULL);
}

/* Gemini CLI with a Gemini API key: the model named by the path; the
 * key= parameter dropped (the gateway sends the real key). */
static void
test_gemini(void **state)
{
	struct provider p = prov(PROVIDER_GEMINI, NULL);

	(void)state;
	expect(&p, "POST",
	       "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
	       "https://generativelanguage.googleapis.com/v1beta/models/"
	       "gemini-2.5-pro:streamGenerateContent?alt=sse",
	       "gemini-2.5-pro", GW_FORMAT_GEMINI, USAGE_GEMINI, GW_AUTH_KEY);
	expect(&p, "POST", "/v1beta/models/gemini-2.5-flash:generateContent",
	       "https://generativelanguage.googleapis.com/v1beta/models/"
	       "gemini-2.5-flash:generateContent",
	       "gemini-2.5-flash", GW_FORMAT_GEMINI, USAGE_GEMINI, GW_AUTH_KEY);
	expect(&p, "POST",
	       "/v1beta/models/gemini-2.5-flash:countTokens?key=placeholder",
	       "https://generativelanguage.googleapis.com/v1beta/models/"
	       "gemini-2.5-flash:countTokens",
	       "gemini-2.5-flash", GW_FORMAT_GEMINI, USAGE_GEMINI, GW_AUTH_KEY);
	expect(&p, "POST",
	       "/v1beta/models/gemini-2.5-flash:streamGenerateContent?key=x&"
	       "alt=sse&keys=1&key",
	       "https://generativelanguage.googleapis.com/v1beta/models/"
	       "gemini-2.5-flash:streamGenerateContent?alt=sse&keys=1",
	       "gemini-2.5-flash", GW_FORMAT_GEMINI, USAGE_GEMINI, GW_AUTH_KEY);
	expect(&p, "GET", "/v1beta/models",
	       "https://generativelanguage.googleapis.com/v1beta/models", NULL,
	       GW_FORMAT_GEMINI, USAGE_GEMINI, GW_AUTH_KEY);
	/* no such method (GET takes the path as a model's name) */
	refuse(&p, "POST", "/v1beta/models/:generateContent", 405, NULL);
	refuse(&p, "POST", "/v1beta/models/gemini:embedContent", 405, NULL);
	refuse(&p, "PUT", "/v1beta/models", 405, NULL);
	refuse(&p, "post", "/v1beta/models", 400, "method");
	refuse(&p, "GET\r\n", "/v1beta/models", 400, "method");
	refuse(&p, "", "/v1beta/models", 400, "method");
	refuse(&p, "POST", "/v1beta/models/gem%40ini:generateContent", 400,
	       "model");
	refuse(&p, "POST", "/v1/messages", 404, NULL);
}

/* Claude Code in Bedrock mode: the /bedrock prefix dropped, the model id
 * decoded for `model` and canonically escaped in the URL, signed for
 * bedrock; the control plane on bedrock.REGION unless --url. */
static void
test_bedrock(void **state)
{
	struct provider p = prov(PROVIDER_BEDROCK, NULL);
	struct provider q = prov(PROVIDER_BEDROCK, "http://127.0.0.1:9000/aws");
	struct gw_route r;
	char *cause;

	(void)state;
	expect(&p, "POST",
	       "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/"
	       "invoke",
	       "https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
	       "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
	       "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
	       GW_FORMAT_BEDROCK, USAGE_ANTHROPIC, GW_AUTH_SIGV4);
	expect(&p, "POST",
	       "/bedrock/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/"
	       "invoke-with-response-stream",
	       "https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
	       "anthropic.claude-3-5-haiku-20241022-v1%3A0/"
	       "invoke-with-response-stream",
	       "anthropic.claude-3-5-haiku-20241022-v1:0", GW_FORMAT_BEDROCK,
	       USAGE_BEDROCK_EVENTSTREAM, GW_AUTH_SIGV4);
	/* an inference profile ARN: its '/' stays escaped upstream */
	expect(&p, "POST",
	       "/bedrock/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012"
	       "%3Aapplication-inference-profile%2Fabc123/invoke",
	       "https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
	       "arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012"
	       "%3Aapplication-inference-profile%2Fabc123/invoke",
	       "arn:aws:bedrock:eu-west-1:123456789012:"
	       "application-inference-profile/abc123",
	       GW_FORMAT_BEDROCK, USAGE_ANTHROPIC, GW_AUTH_SIGV4);
	expect(&p, "POST", "/model/m1/count-tokens",
	       "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m1/"
	       "count-tokens",
	       "m1", GW_FORMAT_BEDROCK, USAGE_ANTHROPIC, GW_AUTH_SIGV4);
	expect(&p, "GET",
	       "/bedrock/inference-profiles?maxResults=1000&"
	       "typeEquals=SYSTEM_DEFINED",
	       "https://bedrock.eu-west-1.amazonaws.com/inference-profiles?"
	       "maxResults=1000&typeEquals=SYSTEM_DEFINED",
	       NULL, GW_FORMAT_BEDROCK, USAGE_ANTHROPIC, GW_AUTH_SIGV4);
	expect(&p, "GET",
	       "/bedrock/inference-profiles/eu.anthropic.claude-v1%3A0",
	       "https://bedrock.eu-west-1.amazonaws.com/inference-profiles/"
	       "eu.anthropic.claude-v1%3A0",
	       NULL, GW_FORMAT_BEDROCK, USAGE_ANTHROPIC, GW_AUTH_SIGV4);
	assert_int_equal(
		route(&p, "GET", "/bedrock/inference-profiles", &r, &cause), 0);
	assert_string_equal(r.host, "bedrock.eu-west-1.amazonaws.com");
	assert_string_equal(r.service, "bedrock");
	gw_route_release(&r);
	/* with --url, runtime and control plane both go there */
	expect(&q, "POST", "/bedrock/model/m:0/invoke",
	       "http://127.0.0.1:9000/aws/model/m%3A0/invoke", "m:0",
	       GW_FORMAT_BEDROCK, USAGE_ANTHROPIC, GW_AUTH_SIGV4);
	expect(&q, "GET", "/bedrock/inference-profiles",
	       "http://127.0.0.1:9000/aws/inference-profiles", NULL,
	       GW_FORMAT_BEDROCK, USAGE_ANTHROPIC, GW_AUTH_SIGV4);
	assert_int_equal(route(&q, "POST", "/model/m/invoke", &r, &cause), 0);
	assert_string_equal(r.host, "127.0.0.1:9000");
	gw_route_release(&r);
	/* Converse (Goose, LiteLLM's bedrock/ID): JSON and eventstream */
	expect(&p, "POST",
	       "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/"
	       "converse",
	       "https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
	       "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
	       "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
	       GW_FORMAT_BEDROCK, USAGE_BEDROCK_CONVERSE, GW_AUTH_SIGV4);
	expect(&q, "POST",
	       "/bedrock/model/us.amazon.nova-pro-v1%3A0/converse-stream",
	       "http://127.0.0.1:9000/aws/model/us.amazon.nova-pro-v1%3A0/"
	       "converse-stream",
	       "us.amazon.nova-pro-v1:0", GW_FORMAT_BEDROCK,
	       USAGE_BEDROCK_CONVERSE, GW_AUTH_SIGV4);
	assert_int_equal(
		route(&p, "POST", "/model/m/converse-stream", &r, &cause), 0);
	assert_string_equal(r.host, "bedrock-runtime.eu-west-1.amazonaws.com");
	assert_string_equal(r.service, "bedrock");
	gw_route_release(&r);
	refuse(&p, "GET", "/bedrock/model/m/converse", 405, NULL);
	refuse(&p, "POST", "/bedrock/model/m/converse/x", 404, NULL);
	refuse(&p, "POST", "/bedrock/model/m/converse-streams", 404, NULL);
	refuse(&p, "POST", "/bedrock/model/a%2F..%2Fb/converse", 400, "model");
	refuse(&p, "POST", "/v1/messages", 404, NULL);
	refuse(&p, "POST", "/bedrock/model/m/generate", 404, NULL);
	refuse(&p, "GET", "/bedrock/model/m/invoke", 405, NULL);
	refuse(&p, "POST", "/bedrock/model/a%2F..%2Fb/invoke", 400, "model");
	refuse(&p, "POST", "/bedrock/model/%2Fa/invoke", 400, "model");
	refuse(&p, "POST", "/bedrock/model/a%2F%2Fb/invoke", 400, "model");
	refuse(&p, "POST", "/bedrock/model/a%2F.%2Fb/invoke", 400, "model");
	refuse(&p, "POST", "/bedrock/model/m@x/invoke", 400, "'@'");
	refuse(&p, "POST", "/bedrock/bedrock/model/m/invoke", 404, NULL);
	/* no region, no --url: the control plane has no host */
	p.region = NULL;
	refuse(&p, "GET", "/bedrock/inference-profiles", 500, "region");
}

/* Claude Code and Gemini CLI in Vertex mode: project and location
 * replaced by the provider's, the Anthropic and Google publishers. */
static void
test_vertex(void **state)
{
	struct provider p = prov(PROVIDER_VERTEX, NULL);
	struct provider g =
		prov(PROVIDER_VERTEX, "https://aiplatform.googleapis.com");

	(void)state;
	expect(&p, "POST",
	       "/vertex/v1/projects/taskbox/locations/global/publishers/"
	       "anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
	       "https://europe-west4-aiplatform.googleapis.com/v1/projects/"
	       "real-proj/locations/europe-west4/publishers/anthropic/models/"
	       "claude-sonnet-4-5@20250929:rawPredict",
	       "claude-sonnet-4-5@20250929", GW_FORMAT_ANTHROPIC,
	       USAGE_ANTHROPIC, GW_AUTH_VERTEX);
	expect(&p, "POST",
	       "/vertex/v1/projects/taskbox/locations/us-east5/publishers/"
	       "anthropic/models/claude-haiku-4-5%4020251001:streamRawPredict",
	       "https://europe-west4-aiplatform.googleapis.com/v1/projects/"
	       "real-proj/locations/europe-west4/publishers/anthropic/models/"
	       "claude-haiku-4-5@20251001:streamRawPredict",
	       "claude-haiku-4-5@20251001", GW_FORMAT_ANTHROPIC,
	       USAGE_ANTHROPIC, GW_AUTH_VERTEX);
	expect(&p, "POST",
	       "/vertex/v1/projects/taskbox/locations/global/publishers/"
	       "anthropic/models/count-tokens:rawPredict",
	       "https://europe-west4-aiplatform.googleapis.com/v1/projects/"
	       "real-proj/locations/europe-west4/publishers/anthropic/models/"
	       "count-tokens:rawPredict",
	       NULL, GW_FORMAT_ANTHROPIC, USAGE_ANTHROPIC, GW_AUTH_VERTEX);
	expect(&p, "POST",
	       "/vertex/v1beta1/projects/taskbox/locations/global/publishers/"
	       "google/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
	       "https://europe-west4-aiplatform.googleapis.com/v1beta1/"
	       "projects/real-proj/locations/europe-west4/publishers/google/"
	       "models/gemini-2.5-pro:streamGenerateContent?alt=sse",
	       "gemini-2.5-pro", GW_FORMAT_GEMINI, USAGE_GEMINI,
	       GW_AUTH_VERTEX);
	expect(&p, "POST",
	       "/vertex/v1beta1/projects/taskbox/locations/global/publishers/"
	       "google/models/gemini-2.5-flash:generateContent",
	       "https://europe-west4-aiplatform.googleapis.com/v1beta1/"
	       "projects/real-proj/locations/europe-west4/publishers/google/"
	       "models/gemini-2.5-flash:generateContent",
	       "gemini-2.5-flash", GW_FORMAT_GEMINI, USAGE_GEMINI,
	       GW_AUTH_VERTEX);
	/* Gemini CLI with GOOGLE_API_KEY set: no project, no location */
	expect(&p, "POST",
	       "/vertex/v1beta1/publishers/google/models/"
	       "gemini-2.5-pro:streamGenerateContent?alt=sse&key=placeholder",
	       "https://europe-west4-aiplatform.googleapis.com/v1beta1/"
	       "projects/real-proj/locations/europe-west4/publishers/google/"
	       "models/gemini-2.5-pro:streamGenerateContent?alt=sse",
	       "gemini-2.5-pro", GW_FORMAT_GEMINI, USAGE_GEMINI,
	       GW_AUTH_VERTEX);
	expect(&p, "POST",
	       "/vertex/v1beta1/publishers/google/models/"
	       "gemini-2.5-flash:countTokens",
	       "https://europe-west4-aiplatform.googleapis.com/v1beta1/"
	       "projects/real-proj/locations/europe-west4/publishers/google/"
	       "models/gemini-2.5-flash:countTokens",
	       "gemini-2.5-flash", GW_FORMAT_GEMINI, USAGE_GEMINI,
	       GW_AUTH_VERTEX);
	expect(&p, "GET", "/vertex/v1beta1/publishers/google/models/gemini-x",
	       "https://europe-west4-aiplatform.googleapis.com/v1beta1/"
	       "publishers/google/models/gemini-x",
	       NULL, GW_FORMAT_GEMINI, USAGE_GEMINI, GW_AUTH_VERTEX);
	refuse(&p, "POST",
	       "/vertex/v1beta1/publishers/anthropic/models/m:rawPredict", 404,
	       NULL);
	/* the OpenAI-compatible endpoint (Aider, Goose): model in the body */
	expect(&p, "POST",
	       "/vertex/v1beta1/projects/taskbox/locations/global/endpoints/"
	       "openapi/chat/completions",
	       "https://europe-west4-aiplatform.googleapis.com/v1beta1/"
	       "projects/real-proj/locations/europe-west4/endpoints/openapi/"
	       "chat/completions",
	       NULL, GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_VERTEX);
	expect(&p, "POST",
	       "/vertex/v1/projects/x/locations/us-central1/endpoints/openapi/"
	       "chat/completions?key=placeholder&alt=json",
	       "https://europe-west4-aiplatform.googleapis.com/v1/projects/"
	       "real-proj/locations/europe-west4/endpoints/openapi/chat/"
	       "completions?alt=json",
	       NULL, GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_VERTEX);
	refuse(&p, "GET",
	       "/vertex/v1/projects/x/locations/y/endpoints/openapi/chat/"
	       "completions",
	       405, NULL);
	refuse(&p, "POST",
	       "/vertex/v1/projects/x/locations/y/endpoints/openapi/"
	       "completions",
	       404, NULL);
	refuse(&p, "POST",
	       "/vertex/v1/projects/x/locations/y/endpoints/e1/chat/"
	       "completions",
	       404, NULL);
	refuse(&p, "POST", "/vertex/v1/endpoints/openapi/chat/completions", 404,
	       NULL);
	/* no region: global; no project: the key file's project_id */
	g.region = NULL;
	g.project = NULL;
	g.service_account = "{\"type\":\"service_account\","
			    "\"project_id\":\"sa-proj\"}";
	expect(&g, "POST",
	       "/v1/projects/x/locations/y/publishers/anthropic/models/"
	       "claude-opus-4-1@20250805:rawPredict",
	       "https://aiplatform.googleapis.com/v1/projects/sa-proj/"
	       "locations/global/publishers/anthropic/models/"
	       "claude-opus-4-1@20250805:rawPredict",
	       "claude-opus-4-1@20250805", GW_FORMAT_ANTHROPIC, USAGE_ANTHROPIC,
	       GW_AUTH_VERTEX);
	g.service_account = "{}";
	refuse(&g, "POST",
	       "/v1/projects/x/locations/y/publishers/anthropic/models/"
	       "m:rawPredict",
	       500, "project");
	refuse(&p, "POST",
	       "/vertex/v1/projects/x/locations/y/publishers/meta/models/"
	       "m:rawPredict",
	       404, NULL);
	refuse(&p, "POST",
	       "/vertex/v1/projects/x/locations/y/publishers/anthropic/models/"
	       "m:predict",
	       404, NULL);
	refuse(&p, "POST", "/vertex/v1/projects/x/locations/y", 404, NULL);
	refuse(&p, "POST",
	       "/vertex/v1/projects/x@evil/locations/y/publishers/anthropic/"
	       "models/m:rawPredict",
	       400, "'@'");
	refuse(&p, "POST",
	       "/vertex/v1/projects/x/locations/y/publishers/anthropic/models/"
	       "m%2F..%2F..:rawPredict",
	       400, NULL);
}

/* LiteLLM (openai-compatible): every vendor format it speaks, the
 * admin's base path kept; Ollama: OpenAI and Anthropic, no key. */
static void
test_compatible_ollama(void **state)
{
	struct provider c = prov(PROVIDER_OPENAI_COMPATIBLE, NULL);
	struct provider b =
		prov(PROVIDER_OPENAI_COMPATIBLE, "https://openrouter.ai/api");
	struct provider o = prov(PROVIDER_OLLAMA, NULL);

	(void)state;
	expect(&c, "POST", "/v1/chat/completions",
	       "http://litellm.internal:4000/v1/chat/completions", NULL,
	       GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_KEY);
	expect(&c, "POST", "/v1/responses",
	       "http://litellm.internal:4000/v1/responses", NULL,
	       GW_FORMAT_OPENAI, USAGE_OPENAI_RESPONSES, GW_AUTH_KEY);
	expect(&c, "POST", "/v1/messages?beta=true",
	       "http://litellm.internal:4000/v1/messages?beta=true", NULL,
	       GW_FORMAT_ANTHROPIC, USAGE_ANTHROPIC, GW_AUTH_KEY);
	expect(&c, "GET", "/v1/models",
	       "http://litellm.internal:4000/v1/models", NULL, GW_FORMAT_OPENAI,
	       USAGE_OPENAI_CHAT, GW_AUTH_KEY);
	expect(&c, "POST", "/v1beta/models/gemini-fake:generateContent",
	       "http://litellm.internal:4000/v1beta/models/"
	       "gemini-fake:generateContent",
	       "gemini-fake", GW_FORMAT_GEMINI, USAGE_GEMINI, GW_AUTH_KEY);
	expect(&b, "POST", "/v1/chat/completions",
	       "https://openrouter.ai/api/v1/chat/completions", NULL,
	       GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_KEY);
	c.key = NULL;
	expect(&c, "POST", "/v1/chat/completions",
	       "http://litellm.internal:4000/v1/chat/completions", NULL,
	       GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_NONE);
	refuse(&c, "POST", "/bedrock/model/m/invoke", 404, NULL);
	expect(&o, "POST", "/v1/chat/completions",
	       "http://127.0.0.1:11434/v1/chat/completions", NULL,
	       GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_NONE);
	expect(&o, "POST", "/v1/responses",
	       "http://127.0.0.1:11434/v1/responses", NULL, GW_FORMAT_OPENAI,
	       USAGE_OPENAI_RESPONSES, GW_AUTH_NONE);
	expect(&o, "GET", "/v1/models", "http://127.0.0.1:11434/v1/models",
	       NULL, GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, GW_AUTH_NONE);
	/* Ollama's native API has no usage the gateway reads: not served */
	refuse(&o, "POST", "/api/chat", 404, NULL);
	refuse(&o, "POST", "/v1beta/models/m:generateContent", 404, NULL);
}

/* Targets that could leave the provider's base or confuse the upstream's
 * URL parser: 400, whatever the path. */
static void
test_hostile(void **state)
{
	struct provider p = prov(PROVIDER_OPENAI_COMPATIBLE, NULL);
	static const struct {
		const char *target, *want;
	} bad[] = {
		{"", "starting with '/'"},
		{"v1/messages", "starting with '/'"},
		{"http://evil.example/v1/messages", "starting with '/'"},
		{"*", "starting with '/'"},
		{"/v1/../admin", "'..'"},
		{"/v1/%2e%2e/admin", "'..'"},
		{"/v1/%2E%2e/admin", "'..'"},
		{"/v1/./messages", "'.'"},
		{"/v1/messages/..", "'..'"},
		{"/..", "'..'"},
		{"//evil.example/v1/messages", "'//'"},
		{"/v1//messages", "'//'"},
		{"/v1/messages#frag", "'#'"},
		{"/v1/messages?x=1#frag", "'#'"},
		{"/v1@evil.example/messages", "'@'"},
		{"/v1/messages?u=a@b", "'@'"},
		{"/v1\\..\\messages", "'\\'"},
		{"/v1/mes sages", "0x20"},
		{"/v1/messages\r\nHost: evil", "0x0d"},
		{"/v1/messages\t", "0x09"},
		{"/v1/messages\x7f", "0x7f"},
		{"/v1/m\xc3\xa9ssages", "0xc3"},
		{"/v1/messages%", "escape"},
		{"/v1/messages%4", "escape"},
		{"/v1/messages%zz", "escape"},
		{"/v1/messages?x=%g0", "escape"},
		{"/v1/mess%00ages", "NUL"},
		{"/v1/mess%0aages", "control"},
		{"/v1/mess%5cages", "'\\'"},
		{"/v1/messages?a=<script>", "'<'"},
		{"/v1/messages?a=\"", "'\"'"},
		{"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", "segments"},
	};
	struct gw_route r;
	char *big, *cause;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		refuse(&p, "POST", bad[i].target, 400, bad[i].want);
	/* longest taken, one more refused */
	big = xmalloc(GW_TARGET_MAX + 2);
	memcpy(big, "/v1/messages?x=", 15);
	memset(big + 15, 'a', GW_TARGET_MAX - 15);
	big[GW_TARGET_MAX] = '\0';
	assert_int_equal(route(&p, "POST", big, &r, &cause), 0);
	assert_string_equal(r.url + strlen(p.url), big);
	gw_route_release(&r);
	big[GW_TARGET_MAX] = 'a';
	big[GW_TARGET_MAX + 1] = '\0';
	refuse(&p, "POST", big, 400, "longer");
	free(big);
}

/* Each format's error body parses, holds the message (escaped) and the
 * status's type name; Bedrock's header value by status. */
static void
test_error_body(void **state)
{
	const char *ct = NULL;
	json_t *o;
	char *s;

	(void)state;
	s = gw_error_body(GW_FORMAT_ANTHROPIC, 429, "budget \"x\" exceeded",
			  &ct);
	assert_string_equal(ct, "application/json");
	assert_string_equal(s, "{\"type\":\"error\",\"error\":{\"type\":"
			       "\"rate_limit_error\",\"message\":\"budget "
			       "\\\"x\\\" exceeded\"}}");
	free(s);
	s = gw_error_body(GW_FORMAT_ANTHROPIC, 401, "no", &ct);
	assert_non_null(strstr(s, "\"authentication_error\""));
	free(s);
	s = gw_error_body(GW_FORMAT_ANTHROPIC, 502, "down", &ct);
	assert_non_null(strstr(s, "\"api_error\""));
	free(s);
	s = gw_error_body(GW_FORMAT_ANTHROPIC, 529, "busy", &ct);
	assert_non_null(strstr(s, "\"overloaded_error\""));
	free(s);
	s = gw_error_body(GW_FORMAT_ANTHROPIC, 418, "tea", &ct);
	assert_non_null(strstr(s, "\"invalid_request_error\""));
	free(s);
	s = gw_error_body(GW_FORMAT_OPENAI, 429, "budget exceeded", &ct);
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(o, "error"), "message")),
			    "budget exceeded");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(o, "error"), "code")),
			    "rate_limit_exceeded");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(o, "error"), "type")),
			    "rate_limit_error");
	json_decref(o);
	free(s);
	s = gw_error_body(GW_FORMAT_OPENAI, 500, "x", &ct);
	assert_string_equal(s,
			    "{\"error\":{\"message\":\"x\",\"type\":"
			    "\"server_error\",\"param\":null,\"code\":null}}");
	free(s);
	s = gw_error_body(GW_FORMAT_GEMINI, 429, "budget exceeded", &ct);
	assert_string_equal(s,
			    "{\"error\":{\"code\":429,\"message\":\"budget "
			    "exceeded\",\"status\":\"RESOURCE_EXHAUSTED\"}}");
	free(s);
	s = gw_error_body(GW_FORMAT_GEMINI, 404, "no", &ct);
	assert_non_null(strstr(s, "\"NOT_FOUND\""));
	free(s);
	s = gw_error_body(GW_FORMAT_BEDROCK, 429, "too many", &ct);
	assert_string_equal(s, "{\"message\":\"too many\"}");
	free(s);
	assert_string_equal(gw_amzn_error_type(429), "ThrottlingException");
	assert_string_equal(gw_amzn_error_type(400), "ValidationException");
	assert_string_equal(gw_amzn_error_type(403), "AccessDeniedException");
	assert_string_equal(gw_amzn_error_type(503),
			    "ServiceUnavailableException");
	assert_string_equal(gw_amzn_error_type(599), "InternalServerException");
	assert_string_equal(gw_amzn_error_type(422), "ValidationException");
	/* a message that is not UTF-8 still makes valid JSON */
	s = gw_error_body(GW_FORMAT_ANTHROPIC, 400, "bad \xff", &ct);
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	json_decref(o);
	free(s);
	s = gw_error_body(GW_FORMAT_BEDROCK, 400, NULL, &ct);
	assert_string_equal(s, "{\"message\":\"error\"}");
	free(s);
}

/* The format of an error before a route: the type's API, else a guess
 * from the target. */
static void
test_route_format(void **state)
{
	struct provider b = prov(PROVIDER_BEDROCK, NULL);
	struct provider v = prov(PROVIDER_VERTEX, NULL);
	struct provider c = prov(PROVIDER_OPENAI_COMPATIBLE, NULL);
	struct provider a = prov(PROVIDER_ANTHROPIC, NULL);

	(void)state;
	assert_int_equal(gw_route_format(&b, "/v1/messages"),
			 GW_FORMAT_BEDROCK);
	assert_int_equal(gw_route_format(&a, "/v1/chat/completions"),
			 GW_FORMAT_ANTHROPIC);
	assert_int_equal(gw_route_format(&v, "/vertex/v1/projects/p/"
					     "locations/l/publishers/anthropic/"
					     "models/m:rawPredict"),
			 GW_FORMAT_ANTHROPIC);
	assert_int_equal(gw_route_format(&v, "/vertex/v1beta1/publishers/"
					     "google/models/m:generateContent"),
			 GW_FORMAT_GEMINI);
	assert_int_equal(gw_route_format(&v, "/vertex/v1beta1/projects/p/"
					     "locations/l/endpoints/openapi/"
					     "chat/completions"),
			 GW_FORMAT_OPENAI);
	assert_int_equal(gw_route_format(&v, NULL), GW_FORMAT_ANTHROPIC);
	assert_int_equal(gw_route_format(&c, "/v1/messages?beta=true"),
			 GW_FORMAT_ANTHROPIC);
	assert_int_equal(gw_route_format(&c, "/v1beta/models/m:countTokens"),
			 GW_FORMAT_GEMINI);
	assert_int_equal(gw_route_format(&c, "/v1/responses"),
			 GW_FORMAT_OPENAI);
	assert_int_equal(gw_route_format(NULL, "/bedrock/model/m/invoke"),
			 GW_FORMAT_BEDROCK);
	assert_int_equal(gw_route_format(NULL, NULL), GW_FORMAT_OPENAI);
}

/* The placeholder in each auth header becomes the provider's key, in the
 * header its API takes it in (Bearer in Authorization); dropped without a
 * key or for signed types; other headers untouched. */
static void
test_auth_header(void **state)
{
	struct provider a = prov(PROVIDER_ANTHROPIC, NULL);
	struct provider oai = prov(PROVIDER_OPENAI, NULL);
	struct provider g = prov(PROVIDER_GEMINI, NULL);
	struct provider c = prov(PROVIDER_OPENAI_COMPATIBLE, NULL);
	struct provider o = prov(PROVIDER_OLLAMA, NULL);
	struct provider b = prov(PROVIDER_BEDROCK, NULL);
	struct provider v = prov(PROVIDER_VERTEX, NULL);
	char *s;

	(void)state;
	/* Anthropic takes an API key in x-api-key only, whatever Claude Code
	 * sent it in (ANTHROPIC_AUTH_TOKEN: Authorization: Bearer) */
	assert_string_equal(gw_auth_header_name(&a, "Authorization"),
			    "x-api-key");
	s = gw_auth_header(&a, "Authorization", "Bearer taskbox-placeholder");
	assert_string_equal(s, "sk-ant-real");
	free(s);
	s = gw_auth_header(&a, "x-api-key", "taskbox-placeholder");
	assert_string_equal(s, "sk-ant-real");
	free(s);
	assert_string_equal(gw_auth_header_name(&a, "X-Goog-Api-Key"),
			    "x-api-key");
	/* an Anthropic OAuth token goes as Bearer */
	a.key = "sk-ant-oat01-x";
	assert_string_equal(gw_auth_header_name(&a, "x-api-key"),
			    "Authorization");
	s = gw_auth_header(&a, "x-api-key", "p");
	assert_string_equal(s, "Bearer sk-ant-oat01-x");
	free(s);
	/* OpenAI: Bearer; Gemini: x-goog-api-key */
	assert_string_equal(gw_auth_header_name(&oai, "api-key"),
			    "Authorization");
	s = gw_auth_header(&oai, "api-key", "p");
	assert_string_equal(s, "Bearer sk-real");
	free(s);
	assert_string_equal(gw_auth_header_name(&g, "authorization"),
			    "x-goog-api-key");
	s = gw_auth_header(&g, "authorization", "Bearer p");
	assert_string_equal(s, "AIza-real");
	free(s);
	/* LiteLLM and friends take several: the agent's choice stays */
	assert_string_equal(gw_auth_header_name(&c, "x-api-key"), "x-api-key");
	s = gw_auth_header(&c, "x-api-key", "p");
	assert_string_equal(s, "sk-litellm");
	free(s);
	assert_string_equal(gw_auth_header_name(&c, "Authorization"),
			    "Authorization");
	s = gw_auth_header(&c, "Authorization", "Bearer p");
	assert_string_equal(s, "Bearer sk-litellm");
	free(s);
	/* not an auth header: as it was */
	assert_string_equal(gw_auth_header_name(&a, "anthropic-version"),
			    "anthropic-version");
	s = gw_auth_header(&a, "anthropic-version", "2023-06-01");
	assert_string_equal(s, "2023-06-01");
	free(s);
	assert_null(gw_auth_header(&o, "authorization", "Bearer ollama"));
	assert_null(gw_auth_header(&b, "authorization", "Bearer x"));
	assert_null(gw_auth_header(&v, "x-goog-api-key", "x"));
	b.key = "stray";
	assert_null(gw_auth_header(&b, "x-api-key", "x"));
	s = gw_auth_header(&o, "content-type", "application/json");
	assert_string_equal(s, "application/json");
	free(s);
}

/* One connection's worth of a tiny HTTP server: answers a redirect and
 * counts the requests. */
struct redirect_server {
	int fd;
	int port;
	int requests;
};

/* Serve connections until the listening socket is shut down. */
static void *
redirect_serve(void *arg)
{
	struct redirect_server *s = arg;
	char buf[4096], reply[256];
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		ssize_t n = read(c, buf, sizeof(buf));

		if (n > 0)
			s->requests++;
		snprintf(reply, sizeof(reply),
			 "HTTP/1.1 302 Found\r\nLocation: "
			 "http://127.0.0.1:%d/elsewhere\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n",
			 s->port);
		(void)write_all(c, reply, strlen(reply));
		close(c);
	}
	return NULL;
}

/* gw_curl_setup: file:// and other schemes refused, a redirect returned
 * to the caller, not followed. */
static void
test_curl_setup(void **state)
{
	struct provider p = prov(PROVIDER_OLLAMA, NULL);
	struct redirect_server s = {0};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	pthread_t th;
	CURL *e;
	long code = 0;
	char url[64];

	(void)state;
	p.ca_pem = "-----BEGIN CERTIFICATE-----\nnot one\n"
		   "-----END CERTIFICATE-----\n";
	e = curl_easy_init();
	gw_curl_setup(e, &p);
	curl_easy_setopt(e, CURLOPT_URL, "file:///etc/passwd");
	assert_int_equal(curl_easy_perform(e), CURLE_UNSUPPORTED_PROTOCOL);
	curl_easy_setopt(e, CURLOPT_URL, "ftp://127.0.0.1/x");
	assert_int_equal(curl_easy_perform(e), CURLE_UNSUPPORTED_PROTOCOL);
	curl_easy_cleanup(e);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s.fd >= 0);
	assert_int_equal(bind(s.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s.fd, 4), 0);
	assert_int_equal(getsockname(s.fd, (struct sockaddr *)&a, &al), 0);
	s.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&th, NULL, redirect_serve, &s), 0);
	e = curl_easy_init();
	gw_curl_setup(e, &p);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/models", s.port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	assert_int_equal(code, 302);
	curl_easy_cleanup(e);
	shutdown(s.fd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(s.fd);
	assert_int_equal(s.requests, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anthropic),
		cmocka_unit_test(test_openai),
		cmocka_unit_test(test_gemini),
		cmocka_unit_test(test_bedrock),
		cmocka_unit_test(test_vertex),
		cmocka_unit_test(test_compatible_ollama),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_route_format),
		cmocka_unit_test(test_auth_header),
		cmocka_unit_test(test_curl_setup),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
