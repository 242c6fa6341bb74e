/* engine_cli.c - the text and perplexity set-up of the engine commands. */
#include "engine_cli.h"

char *ak_cli_read_text(const char *path, size_t *len, char *err, size_t errlen) {
    char *text = ak_read_whole_file(path, len, err, errlen);
    if (text && *len && text[*len - 1] == '\n') text[--*len] = 0;
    return text;
}

ak_ppl_params ak_cli_ppl_params(const ak_session *s, int n_ctx, int n_batch, int n_chunks) {
    ak_ppl_params pp = ak_ppl_default_params();
    pp.n_vocab = ak_model_hparams(s->model)->n_vocab;
    pp.n_ctx = n_ctx;
    pp.n_batch = n_batch;
    pp.n_chunks = n_chunks;
    pp.bos = ak_tokenizer_add_bos(s->tok) ? ak_tokenizer_bos(s->tok) : -1;
    return pp;
}
