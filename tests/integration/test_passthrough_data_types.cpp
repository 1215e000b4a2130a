// Pass-through behaviour, the data types: strings, lists, hashes, sets, sorted sets, streams and
// expiry (EXPIRE, TTL, PERSIST) must look exactly like Redis through the proxy.
//
// Each sequence (passthrough_suite.cpp) runs twice against the same redis-server, once through the
// proxy on keys "{px}:*" and once directly on keys "{dx}:*", and every reply pair must be equal
// (prefix normalised). test_cluster_passthrough.cpp runs the same sequences in front of a cluster.
#include "harness.h"
#include "passthrough_suite.h"

using namespace herdguard::test;

TEST_CASE("strings: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison(strings_sequence().commands);
}

TEST_CASE("lists: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison(lists_sequence().commands);
}

TEST_CASE("hashes: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison(hashes_sequence().commands);
}

TEST_CASE("sets: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison(sets_sequence().commands);
}

TEST_CASE("sorted sets with scores: proxy replies equal direct Redis replies",
          "[integration][passthrough]") {
    run_comparison(sorted_sets_sequence().commands);
}

TEST_CASE("streams with explicit IDs: proxy replies equal direct Redis replies",
          "[integration][passthrough]") {
    run_comparison(streams_sequence().commands);
}

TEST_CASE("EXPIRE, TTL and PERSIST: proxy replies equal direct Redis replies",
          "[integration][passthrough]") {
    run_comparison(expiry_sequence().commands);
}
