/* xml_check.c — test tool: is a file well-formed XML (SVG plots) or, with --html, balanced HTML
 * (void elements such as <meta> and <img> need no end tag)? Checks element nesting, quoted
 * attributes, entities and stray '<' / '&'. With --count ATTR=VALUE (repeatable) it counts the
 * elements carrying that exact attribute value (e.g. class=series).
 *   xml_check [--html] FILE [--count ATTR=VALUE]...
 * Prints "root NAME" and "count ATTR=VALUE N" lines; exit 0 if well-formed, 1 (with
 * "error: FILE:LINE: ...") if not, 2 on usage errors. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *src;
static size_t pos, len;
static int line = 1;
static const char *path;

static int fail(const char *msg, const char *arg)
{
    fprintf(stderr, "error: %s:%d: %s%s%s\n", path, line, msg, arg ? " " : "", arg ? arg : "");
    return 1;
}

static void adv(size_t n)
{
    for (size_t i = 0; i < n && pos < len; i++, pos++)
        if (src[pos] == '\n') line++;
}

static int is_name(int c)
{
    return isalnum(c) || c == '-' || c == '_' || c == ':' || c == '.';
}

/* &name; or &#N; or &#xH; at pos */
static int entity(void)
{
    static const char *const ok[] = {"amp", "lt", "gt", "quot", "apos", "#39", NULL};
    size_t e = pos + 1;
    while (e < len && e - pos < 12 && src[e] != ';') e++;
    if (e >= len || src[e] != ';') return fail("'&' that does not start an entity", NULL);
    char name[16];
    snprintf(name, sizeof name, "%.*s", (int)(e - pos - 1), src + pos + 1);
    int good = 0;
    for (int i = 0; ok[i]; i++) good |= !strcmp(ok[i], name);
    if (!good && name[0] == '#') {
        good = 1;
        for (const char *c = name + 1 + (name[1] == 'x'); *c; c++)
            good &= isxdigit((unsigned char)*c) != 0;
    }
    if (!good) return fail("unknown entity", name);
    adv(e - pos + 1);
    return 0;
}

int main(int argc, char **argv)
{
    int html = 0;
    const char *counts[32];
    long counted[32] = {0};
    int ncount = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--html"))
            html = 1;
        else if (!strcmp(argv[i], "--count") && i + 1 < argc && ncount < 32)
            counts[ncount++] = argv[++i];
        else if (!path)
            path = argv[i];
        else {
            fprintf(stderr, "usage: xml_check [--html] FILE [--count ATTR=VALUE]...\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: xml_check [--html] FILE [--count ATTR=VALUE]...\n");
        return 2;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return fail("cannot open", NULL);
    char *buf = NULL;
    size_t cap = 0;
    len = 0;
    for (;;) {
        if (len + 65536 > cap && !(buf = realloc(buf, cap = cap * 2 + 65536)))
            return fail("out of memory", NULL);
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    src = buf;
    static const char *const VOID[] = {"meta", "img",  "br",   "hr",  "link", "input",
                                       "col",  "area", "base", "wbr", NULL};
    char stack[256][64];
    int depth = 0, roots = 0;
    char root[64] = "";
    while (pos < len) {
        char c = src[pos];
        if (c == '&') {
            if (entity()) return 1;
            continue;
        }
        if (c != '<') {
            adv(1);
            continue;
        }
        if (!strncmp(src + pos, "<!--", 4)) {
            const char *e = strstr(src + pos + 4, "-->");
            if (!e) return fail("unterminated comment", NULL);
            adv((size_t)(e - (src + pos)) + 3);
            continue;
        }
        if (!strncmp(src + pos, "<?", 2)) {
            const char *e = strstr(src + pos + 2, "?>");
            if (!e) return fail("unterminated processing instruction", NULL);
            adv((size_t)(e - (src + pos)) + 2);
            continue;
        }
        if (!strncmp(src + pos, "<!", 2)) { /* DOCTYPE */
            const char *e = memchr(src + pos, '>', len - pos);
            if (!e) return fail("unterminated declaration", NULL);
            adv((size_t)(e - (src + pos)) + 1);
            continue;
        }
        int closing = src[pos + 1] == '/';
        adv(closing ? 2 : 1);
        size_t n0 = pos;
        while (pos < len && is_name((unsigned char)src[pos])) adv(1);
        if (pos == n0) return fail("'<' that does not start a tag", NULL);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(pos - n0), src + n0);
        for (char *p = name; html && *p; p++) *p = (char)tolower((unsigned char)*p);
        if (closing) {
            while (pos < len && isspace((unsigned char)src[pos])) adv(1);
            if (pos >= len || src[pos] != '>') return fail("malformed end tag", name);
            adv(1);
            if (depth == 0 || strcmp(stack[depth - 1], name)) {
                char m[200];
                snprintf(m, sizeof m, "</%s> closes <%s>", name,
                         depth ? stack[depth - 1] : "(nothing)");
                return fail("mismatched end tag:", m);
            }
            depth--;
            continue;
        }
        /* attributes */
        int self = 0;
        for (;;) {
            while (pos < len && isspace((unsigned char)src[pos])) adv(1);
            if (pos >= len) return fail("unterminated tag", name);
            if (src[pos] == '>') {
                adv(1);
                break;
            }
            if (src[pos] == '/' && pos + 1 < len && src[pos + 1] == '>') {
                adv(2);
                self = 1;
                break;
            }
            size_t a0 = pos;
            while (pos < len && is_name((unsigned char)src[pos])) adv(1);
            if (pos == a0) return fail("bad attribute in", name);
            char an[64];
            snprintf(an, sizeof an, "%.*s", (int)(pos - a0), src + a0);
            if (pos >= len || src[pos] != '=') {
                if (html) continue; /* boolean attribute */
                return fail("attribute without value:", an);
            }
            adv(1);
            char q = pos < len ? src[pos] : 0;
            if (q != '"' && q != '\'') return fail("unquoted attribute value:", an);
            adv(1);
            size_t v0 = pos;
            while (pos < len && src[pos] != q) {
                if (src[pos] == '<') return fail("'<' in attribute value:", an);
                if (src[pos] == '&') {
                    if (entity()) return 1;
                    continue;
                }
                adv(1);
            }
            if (pos >= len) return fail("unterminated attribute value:", an);
            char kv[600];
            snprintf(kv, sizeof kv, "%s=%.*s", an, (int)(pos - v0), src + v0);
            for (int i = 0; i < ncount; i++) counted[i] += !strcmp(kv, counts[i]);
            adv(1);
        }
        int is_void = 0;
        for (int i = 0; html && VOID[i]; i++) is_void |= !strcmp(VOID[i], name);
        if (depth == 0) {
            roots++;
            snprintf(root, sizeof root, "%s", name);
        }
        if (self || is_void) continue;
        if (depth == 256) return fail("nesting deeper than 256", NULL);
        snprintf(stack[depth++], sizeof stack[0], "%s", name);
        /* raw text elements */
        if (!strcmp(name, "style") || !strcmp(name, "script")) {
            char endtag[80];
            snprintf(endtag, sizeof endtag, "</%s>", name);
            const char *e = strstr(src + pos, endtag);
            if (!e) return fail("unterminated", name);
            adv((size_t)(e - (src + pos)));
        }
    }
    if (depth) return fail("unclosed element", stack[depth - 1]);
    if (roots != 1) return fail("expected exactly one root element", NULL);
    printf("root %s\n", root);
    for (int i = 0; i < ncount; i++) printf("count %s %ld\n", counts[i], counted[i]);
    free(buf);
    return 0;
}
