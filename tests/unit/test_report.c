/* test_report.c — the report's building blocks: axis ticks and number formats, colour scales,
 * XML escaping, the SVG line / bar / heat map writers (well-formed, one group per series, one
 * rect per cell, undefined cells grey, the outlined cell), and report_render on a small archive
 * written here: the tables carry the archive's numbers, block's mrr_drop_* attributes are not
 * taken for configurations, missing stages are announced, and bad inputs fail with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/archive/archive.h"
#include "report/report.h"
#include "report/internal.h"
#include "tests/unit/check.h"

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_ticks(void)
{
    double t[16];
    int n = rep_nice_ticks(0, 1, 7, t);
    CHECK(n == 6 && fabs(t[0]) < 1e-12 && fabs(t[5] - 1) < 1e-12 && fabs(t[1] - 0.2) < 1e-12,
          "ticks/0_1", "%d ticks, %g..%g", n, t[0], n ? t[n - 1] : NAN);
    n = rep_nice_ticks(-0.53, 2.4, 7, t);
    int zero = 0;
    for (int i = 0; i < n; i++) zero |= t[i] == 0;
    CHECK(n >= 3 && n <= 7 && zero && t[0] >= -0.53 - 1e-9 && t[n - 1] <= 2.4 + 1e-9,
          "ticks/inside_range_with_zero", "%d ticks from %g to %g", n, t[0], n ? t[n - 1] : NAN);
    n = rep_nice_ticks(5, 5, 7, t);
    CHECK(n >= 2, "ticks/constant_range", "%d ticks", n);
    CHECK(rep_nice_ticks(NAN, 1, 7, t) == 0, "ticks/nan_range", "ticks for NAN");
    char b[32];
    rep_fmt_tick(0.25, 0.25, b, sizeof b);
    CHECK(!strcmp(b, "0.25"), "ticks/format_quarter", "'%s'", b);
    rep_fmt_tick(3, 1, b, sizeof b);
    CHECK(!strcmp(b, "3"), "ticks/format_integer", "'%s'", b);
    rep_fmt_tick(-1e-17, 0.5, b, sizeof b);
    CHECK(!strcmp(b, "0.0"), "ticks/format_negative_zero", "'%s'", b);
    rep_fmt_value(b, sizeof b, "%.3f", -0.0004);
    CHECK(!strcmp(b, "0.000"), "format/no_negative_zero", "'%s'", b);
    rep_fmt_value(b, sizeof b, "%.3f", -0.012);
    CHECK(!strcmp(b, "-0.012"), "format/negative_kept", "'%s'", b);
    CHECK(!strcmp(rep_num(b, NAN, 3), "–"), "format/nan_dash", "'%s'", b);
}

static void test_colours(void)
{
    rep_heatmap h;
    char c[8];
    memset(&h, 0, sizeof h);
    h.vmin = -1;
    h.vmax = 1;
    h.diverging = 1;
    rep_heat_colour(&h, 0, c);
    CHECK(!strcmp(c, "#f7f7f7"), "colour/diverging_zero_white", "%s", c);
    rep_heat_colour(&h, 1, c);
    CHECK(!strcmp(c, "#67001f"), "colour/diverging_max_red", "%s", c);
    rep_heat_colour(&h, -5, c);
    CHECK(!strcmp(c, "#053061"), "colour/diverging_clamped_blue", "%s", c);
    rep_heat_colour(&h, NAN, c);
    CHECK(!strcmp(c, "#d0d0d0"), "colour/nan_grey", "%s", c);
    h.diverging = 0;
    h.vmin = 0;
    h.vmax = 100;
    rep_heat_colour(&h, 0, c);
    CHECK(!strcmp(c, "#fff5f0"), "colour/sequential_min", "%s", c);
}

static void test_escape_and_stem(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rep_xml_escape(f, "<a&b>\"'\x01ok");
    fclose(f);
    CHECK(!strcmp(buf, "&lt;a&amp;b&gt;&quot;&#39;ok"), "xml/escape", "'%s'", buf);
    free(buf);
    char s[64];
    rep_stem(s, sizeof s, "fig7", "my model/v2", "rel.x");
    CHECK(!strcmp(s, "fig7_my_model_v2_rel_x"), "stem/sanitised", "'%s'", s);
}

static void test_svg(void)
{
    const char *dir = check_tmp_dir();
    char p[4200];
    mp_err err;
    err_init(&err);
    double x[4] = {1, 2, 3, 4}, y1[4] = {0.5, 1.5, NAN, -0.2}, y2[4] = {0.1, 0.2, 0.3, 0.4};
    rep_line_chart c;
    memset(&c, 0, sizeof c);
    c.title = "gain & <loss>";
    c.xlabel = "layer";
    c.ylabel = "gain";
    c.integer_x = 1;
    c.zero_line = 1;
    c.ymin_hint = c.ymax_hint = NAN;
    c.s[0] = (rep_series){"FFN", x, y1, 4, 0, 1};
    c.s[1] = (rep_series){"attention", x, y2, 4, 1, 1};
    c.n_series = 2;
    c.band[0] = (rep_band){0.5, 2.5, "early"};
    c.n_band = 1;
    snprintf(p, sizeof p, "%s/line.svg", dir);
    int rc = rep_svg_line(p, &c, &err);
    char *s = slurp(p);
    CHECK(rc == 0 && s && !strncmp(s, "<?xml", 5) && strstr(s, "</svg>"), "svg/line_written",
          "rc %d: %s", rc, err.msg);
    CHECK(count(s, "class=\"series\"") == 2, "svg/line_two_series", "%d series",
          count(s, "class=\"series\""));
    /* the NAN splits the first series into two polylines; the second has one */
    CHECK(count(s, "<polyline") == 3, "svg/line_gap_at_nan", "%d polylines", count(s, "<polyline"));
    CHECK(strstr(s, "gain &amp; &lt;loss&gt;") != NULL && strstr(s, ">attention<") != NULL,
          "svg/line_title_legend", "title or legend missing");
    free(s);

    const char *groups[2] = {"model a", "model b"}, *series[3] = {"early", "mid", "late"};
    double v[6] = {90, 12, -2, 98, 1.5, NAN};
    rep_bar_chart b;
    memset(&b, 0, sizeof b);
    b.title = "shares";
    b.ylabel = "%";
    b.groups = groups;
    b.n_groups = 2;
    b.series = series;
    b.n_series = 3;
    b.v = v;
    b.value_labels = 1;
    b.value_fmt = "%.0f";
    snprintf(p, sizeof p, "%s/bar.svg", dir);
    rc = rep_svg_bar(p, &b, &err);
    s = slurp(p);
    CHECK(rc == 0 && s && count(s, "class=\"series\"") == 3, "svg/bar_three_series",
          "rc %d, %d series", rc, s ? count(s, "class=\"series\"") : -1);
    /* one bar per finite value */
    CHECK(s && count(s, "<rect x=") - 3 - 2 == 5, "svg/bar_one_rect_per_value",
          "%d rects (3 legend boxes, background and frame excluded)",
          s ? count(s, "<rect x=") - 5 : -1);
    free(s);

    double m[6] = {0.1, -0.5, NAN, 0.9, 0, -1};
    const char *rows[2] = {"r0", "r1"}, *cols[3] = {"c0", "c1", "c2"};
    rep_heatmap h;
    memset(&h, 0, sizeof h);
    h.title = "map";
    h.rows = 2;
    h.cols = 3;
    h.v = m;
    h.row_labels = rows;
    h.col_labels = cols;
    h.vmin = -1;
    h.vmax = 1;
    h.diverging = 1;
    h.annotate = 1;
    h.value_fmt = "%.2f";
    h.mark_row = 1;
    h.mark_col = 2;
    h.mark_label = "pair";
    snprintf(p, sizeof p, "%s/heat.svg", dir);
    rc = rep_svg_heatmap(p, &h, &err);
    s = slurp(p);
    CHECK(rc == 0 && s && count(s, "class=\"cell\"") == 6, "svg/heatmap_cells", "rc %d, %d cells",
          rc, s ? count(s, "class=\"cell\"") : -1);
    CHECK(s && count(s, "fill=\"#d0d0d0\"") >= 2 && strstr(s, ">undefined<"),
          "svg/heatmap_nan_grey_in_legend", "no grey cell / legend entry");
    CHECK(s && strstr(s, "class=\"mark\"") && strstr(s, ">pair<") &&
              strstr(s, "class=\"colour-scale\""),
          "svg/heatmap_mark_and_scale", "mark or colour scale missing");
    CHECK(s && strstr(s, ">-0.50<") && strstr(s, ">0.00<"), "svg/heatmap_annotated",
          "cell values missing");
    free(s);
    snprintf(p, sizeof p, "%s/no/such/dir/x.svg", dir);
    rc = rep_svg_heatmap(p, &h, &err);
    CHECK(rc != 0 && strstr(err.msg, "cannot write the plot"), "svg/unwritable_path", "rc %d: %s",
          rc, err.msg);
}

/* A two-relation MoE archive: metrics with blocking, a pooled summary; no head_expert. */
static int write_archive(const char *path)
{
    mp_err err;
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    err_init(&err);
    const char *cfg =
        "{\"architectures\": [\"OlmoeForCausalLM\"], \"model_type\": \"olmoe\", \"hidden_size\": "
        "128, "
        "\"intermediate_size\": 64, \"num_hidden_layers\": 4, \"num_attention_heads\": 4, "
        "\"num_experts\": 16, \"num_experts_per_tok\": 4, \"vocab_size\": 512}";
    const char *yaml =
        "model: m\nrelations: r\nout: o\nstages: [capture, evaluate, summarise, block]\n";
    arc_provenance prov = {.model_config_json = cfg, .run_config_yaml = yaml, .mpi_ranks = 1};
    if (arc_writer_open(&w, path, &prov, NULL, &err) != 0) goto fail;
    const char *rels[2] = {"alpha_rel", "beta_rel"};
    for (int i = 0; i < 2; i++) {
        char id[64], g[64];
        snprintf(id, sizeof id, "capture/%s", rels[i]);
        snprintf(g, sizeof g, "metrics/%s", rels[i]);
        if (arc_unit_begin(w, id, &u, &err) != 0 ||
            arc_attr_f64(u, g, "hit10", 0.8125 + i * 0.1, &err) != 0 ||
            arc_attr_f64(u, g, "mrr", 0.6 + i * 0.2, &err) != 0 ||
            arc_attr_i64(u, g, "n", 10 + 10 * i, &err) != 0 ||
            arc_attr_f64(u, g, "mrr_block1", 0.55 + i * 0.2, &err) != 0 ||
            arc_attr_f64(u, g, "hit10_block1", 0.7, &err) != 0 ||
            arc_attr_f64(u, g, "mrr_block10", 0.25 + i * 0.5, &err) != 0 ||
            arc_attr_f64(u, g, "hit10_block10", 0.5, &err) != 0 ||
            arc_attr_f64(u, g, "mrr_drop_block10", 0.35, &err) != 0 ||
            arc_attr_f64(u, g, "mrr_drop_rel_block10", 0.5, &err) != 0 ||
            arc_attr_f64(u, g, "mrr_topk0", 0.125, &err) != 0 ||
            arc_attr_f64(u, g, "hit10_topk0", 0.25, &err) != 0 || arc_unit_commit(w, u, &err) != 0)
            goto fail;
    }
    double curve[4] = {1.25, 0.5, 0.25, -0.125}, attn[4] = {0.5, 0.25, 0, 0};
    int64_t four = 4;
    if (arc_unit_begin(w, "summarise/pooled", &u, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary", "total_ffn_gain", 1.875, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary", "total_attn_gain", 0.75, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary", "layer_efficiency", 0.46875, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary", "peak_ffn_layer", 1.5, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary", "peak_ffn_layer_pct", 37.5, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary/stage_share", "early", 0.9, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary/stage_share", "mid", 0.1333, &err) != 0 ||
        arc_attr_f64(u, "analyses/pooled/summary/stage_share", "late", -0.0333, &err) != 0 ||
        arc_write(u, "analyses/pooled/summary/ffn_gain_curve", ARC_F64, 1, &four, NULL, curve,
                  &err) != 0 ||
        arc_write(u, "analyses/pooled/summary/attn_gain_curve", ARC_F64, 1, &four, NULL, attn,
                  &err) != 0 ||
        arc_unit_commit(w, u, &err) != 0)
        goto fail;
    return arc_writer_close(w, &err);
fail:
    printf("FAIL report/archive_written: %s\n", err.msg);
    arc_unit_abort(w, u);
    arc_writer_free(w);
    return -1;
}

static void test_render(void)
{
    const char *dir = check_tmp_dir();
    char arch[4200], out[4200], p[4300];
    snprintf(arch, sizeof arch, "%s/out/tiny-test.h5", dir);
    snprintf(out, sizeof out, "%s/report", dir);
    if (write_archive(arch) != 0) return;
    mp_err err;
    err_init(&err);
    report_opts o = report_opts_default();
    char *written = NULL;
    const char *a[1] = {arch};
    int rc = report_render_to(a, 1, out, &o, &written, &err);
    CHECK(rc == 0 && written && strstr(written, "index.html"), "render/html_written", "rc %d: %s",
          rc, err.msg);
    free(written);
    snprintf(p, sizeof p, "%s/index.html", out);
    char *s = slurp(p);
    if (!s) return;
    /* Table 1: sample-weighted HIT@10 (10*0.8125 + 20*0.9125)/30 = 0.879, MRR 0.733 */
    CHECK(strstr(
              s,
              "<tr><td>tiny-test</td><td class=\"num\">2</td><td class=\"num\">30</td><td "
              "class=\"num\">0.879</td>"
              "<td class=\"num\">0.733</td><td class=\"num\">1.875</td><td class=\"num\">0.750</td>"
              "<td class=\"num\">1.50 (37.5%)</td><td class=\"num\">0.469</td><td "
              "class=\"num\">4</td></tr>") != NULL,
          "render/table1_row", "Table 1 row not found");
    CHECK(
        strstr(s, "<td>alpha_rel</td><td class=\"num\">0.812</td><td class=\"num\">0.600</td>") !=
                NULL ||
            strstr(s,
                   "<td>alpha_rel</td><td class=\"num\">0.813</td><td class=\"num\">0.600</td>") !=
                NULL,
        "render/relation_row", "per-relation row not found");
    /* blocking: drop at top-10 of alpha = 0.35, beta = 0.05; configs only block1 and block10 */
    CHECK(strstr(s, "MRR top-10 blocked") && strstr(s, "MRR top-1 blocked") &&
              !strstr(s, "top-0 blocked") && !strstr(s, "drop_block"),
          "render/block_configs_only", "block columns wrong or mrr_drop_* taken as a config");
    CHECK(strstr(s, "lowers tiny-test's MRR by 0.200 on average") ||
              strstr(s, "lowers tiny-test&#39;s MRR by 0.200 on average"),
          "render/glance_mean_drop", "at-a-glance drop sentence missing");
    /* missing stages are announced */
    CHECK(strstr(s, "stage heads_experts was not run for tiny-test") != NULL,
          "render/missing_heads_experts_announced", "no note");
    CHECK(strstr(s, "stage neurons was not run for tiny-test") != NULL,
          "render/missing_neurons_announced", "no note");
    free(s);
    snprintf(p, sizeof p, "%s/plots/fig7_mrr_drop_tiny-test.svg", out);
    s = slurp(p);
    CHECK(s && count(s, "class=\"cell\"") == 4, "render/mrr_drop_heatmap_cells", "%d cells",
          s ? count(s, "class=\"cell\"") : -1);
    free(s);
    snprintf(p, sizeof p, "%s/plots/fig2_gain_tiny-test.svg", out);
    s = slurp(p);
    CHECK(s && count(s, "class=\"series\"") == 2, "render/gain_curve_series", "%d series",
          s ? count(s, "class=\"series\"") : -1);
    free(s);

    /* Markdown */
    o.format = REPORT_MARKDOWN;
    snprintf(p, sizeof p, "%s/md", dir);
    rc = report_render(a, 1, p, &o, &err);
    snprintf(p, sizeof p, "%s/md/report.md", dir);
    s = slurp(p);
    CHECK(rc == 0 && s &&
              strstr(s, "| tiny-test | 2 | 30 | 0.879 | 0.733 | 1.875 | 0.750 | 1.50 (37.5%) | "
                        "0.469 | 4 |") &&
              strstr(s, "](plots/fig7_mrr_drop_tiny-test.svg)"),
          "render/markdown_table_and_image", "rc %d: %s", rc, err.msg);
    free(s);

    /* bad inputs */
    o = report_opts_default();
    const char *missing[1] = {"/nonexistent/x.h5"};
    rc = report_render(missing, 1, out, &o, &err);
    CHECK(rc != 0 && strstr(err.msg, "cannot open the archive"), "render/missing_archive",
          "rc %d: %s", rc, err.msg);
    snprintf(p, sizeof p, "%s/index.html", out);
    const char *text[1] = {p};
    rc = report_render(text, 1, out, &o, &err);
    CHECK(rc != 0 && strstr(err.msg, "not an HDF5 file"), "render/not_hdf5", "rc %d: %s", rc,
          err.msg);
    const char *ref[1] = {check_shared_path("fixtures/refs/olmoe.h5")};
    rc = report_render(ref, 1, out, &o, &err);
    CHECK(rc != 0 && strstr(err.msg, "not a moeprobe archive"), "render/hdf5_not_archive",
          "rc %d: %s", rc, err.msg);
    rc = report_render(a, 1, p, &o, &err); /* out dir is a file */
    CHECK(rc != 0 && strstr(err.msg, "not a folder"), "render/out_is_file", "rc %d: %s", rc,
          err.msg);
    /* the folder of a run stands for its one archive */
    snprintf(p, sizeof p, "%s/out", dir);
    const char *folder[1] = {p};
    snprintf(out, sizeof out, "%s/report2", dir);
    rc = report_render(folder, 1, out, &o, &err);
    CHECK(rc == 0, "render/folder_with_one_archive", "rc %d: %s", rc, err.msg);
    /* PNG without a converter */
    const char *path = getenv("PATH");
    char *saved = path ? strdup(path) : NULL;
    setenv("PATH", "/nonexistent-bin", 1);
    o.plots = REPORT_PNG;
    rc = report_render(a, 1, out, &o, &err);
    CHECK(rc != 0 && strstr(err.msg, "rsvg-convert") && strstr(err.msg, "gnuplot"),
          "render/png_no_converter", "rc %d: %s", rc, err.msg);
    if (saved) setenv("PATH", saved, 1);
    free(saved);
}

int main(void)
{
    test_ticks();
    test_colours();
    test_escape_and_stem();
    test_svg();
    test_render();
    return check_finish();
}
