/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slides shared between graphs (a batch's rows): opened once, their
 * readers shared while they are among the most recently used.
 */
#include "config.h"

#include "sp-private.h"

#define SLIDE_CACHE_SIZE 64

struct _SpSlideCache {
	gint ref_count;
	GMutex lock;
	GHashTable *slides; /* path -> SpSlide (ref) */
	GQueue lru; /* paths, most recent first (owned by the table) */
	int pipelines; /* graphs reading at once (the batch's workers) */
};

SpSlideCache *
sp_slide_cache_new(void)
{
	SpSlideCache *cache = g_new0(SpSlideCache, 1);

	cache->ref_count = 1;
	cache->pipelines = 1;
	g_mutex_init(&cache->lock);
	cache->slides = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
		(GDestroyNotify) sp_slide_unref);
	g_queue_init(&cache->lru);
	return cache;
}

void
sp_slide_cache_unref(SpSlideCache *cache)
{
	if (!cache || !g_atomic_int_dec_and_test(&cache->ref_count))
		return;
	g_queue_clear(&cache->lru);
	g_hash_table_destroy(cache->slides);
	g_mutex_clear(&cache->lock);
	g_free(cache);
}

static SpSlideCache *
slide_cache_ref(SpSlideCache *cache)
{
	g_atomic_int_inc(&cache->ref_count);
	return cache;
}

void
_sp_slide_cache_set_pipelines(SpSlideCache *cache, int pipelines)
{
	g_mutex_lock(&cache->lock);
	cache->pipelines = MAX(1, pipelines);
	g_mutex_unlock(&cache->lock);
}

/* Slides at this place in the LRU and beyond let go of their shared
 * readers (handles, decoded tiles: megabytes each), since rows that
 * read them are probably over; a slide that comes back opens new ones.
 * Called with the lock held after a slide moved to the head: only the
 * slide now at this place can have newly fallen behind. */
static void
slide_cache_drop_behind(SpSlideCache *cache)
{
	/* rows of as many slides as there are workers can run at once;
	 * one more keeps a slide whose rows alternate with another's */
	const char *key = g_queue_peek_nth(&cache->lru, cache->pipelines + 1);

	if (key)
		_sp_slide_drop_readers(g_hash_table_lookup(cache->slides, key));
}

SpSlide *
_sp_slide_cache_open(SpSlideCache *cache, const char *path, GError **error)
{
	SpSlide *slide;
	char *key;

	g_mutex_lock(&cache->lock);
	if (g_hash_table_lookup_extended(cache->slides, path, (gpointer *) &key,
		    (gpointer *) &slide)) {
		if (cache->lru.head->data != key) {
			g_queue_remove(&cache->lru, key);
			g_queue_push_head(&cache->lru, key);
			slide_cache_drop_behind(cache);
		}
		sp_slide_ref(slide);
		g_mutex_unlock(&cache->lock);
		return slide;
	}
	g_mutex_unlock(&cache->lock);

	/* open outside the lock: other rows go on meanwhile */
	if (!(slide = sp_slide_open(path, error)))
		return NULL;
	g_mutex_lock(&cache->lock);
	if (!g_hash_table_contains(cache->slides, path)) {
		/* rows of a slide share its readers while it is cached */
		_sp_slide_share_readers(slide, cache->pipelines);
		key = g_strdup(path);
		g_hash_table_insert(cache->slides, key, sp_slide_ref(slide));
		g_queue_push_head(&cache->lru, key);
		slide_cache_drop_behind(cache);
		while (cache->lru.length > SLIDE_CACHE_SIZE)
			g_hash_table_remove(cache->slides,
				g_queue_pop_tail(&cache->lru));
	}
	g_mutex_unlock(&cache->lock);
	return slide;
}

void
sp_graph_set_slide_cache(SpGraph *graph, SpSlideCache *cache)
{
	if (graph->slide_cache)
		sp_slide_cache_unref(graph->slide_cache);
	graph->slide_cache = cache ? slide_cache_ref(cache) : NULL;
}
