/* limits.h — the largest model shapes moeprobe accepts, in one place (#13 point 8). The
 * config.json reader (model_config.c) refuses anything beyond them with the key and value, and
 * code that sizes a buffer by one of these quantities takes the size from the model's config
 * (heap, never a fixed stack array), so a limit here is a validated promise, not a buffer size.
 * Real MoE checkpoints stay far below (Mixtral: 8 experts, top-2; Qwen1.5-MoE: 60, top-4;
 * OLMoE: 64, top-8; DeepSeek-V3: 256, top-8). */
#ifndef MOEPROBE_LIMITS_H
#define MOEPROBE_LIMITS_H

#define MOEPROBE_MAX_EXPERTS 65536  /* num_experts / num_local_experts */
#define MOEPROBE_MAX_TOPK 65536     /* num_experts_per_tok (also at most num_experts) */
#define MOEPROBE_MAX_HEADS 65536    /* num_attention_heads, num_key_value_heads */
#define MOEPROBE_MAX_HEAD_DIM 65536 /* head_dim */

/* "65536" for messages: MOEPROBE_STR(MOEPROBE_MAX_EXPERTS) */
#define MOEPROBE_STR_(x) #x
#define MOEPROBE_STR(x) MOEPROBE_STR_(x)

#endif
