#include "agent/load/http_response_parser.h"

#include "gtest/gtest.h"

namespace perfgate::agent {
namespace {

using R = HttpResponseParser::Result;

// Feeds `text` one byte at a time (the hardest split) and returns the final result.
R FeedBytewise(HttpResponseParser& p, const std::string& text) {
  R r = R::kNeedMore;
  for (char c : text) {
    r = p.Feed(&c, 1);
    if (r != R::kNeedMore) return r;
  }
  return r;
}

TEST(HttpResponseParserTest, ContentLengthAcrossArbitrarySplits) {
  HttpResponseParser p;
  p.Reset();
  EXPECT_EQ(FeedBytewise(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"), R::kDone);
  EXPECT_EQ(p.status(), 200);
  EXPECT_TRUE(p.keep_alive());
}

TEST(HttpResponseParserTest, ChunkedWithExtensionsAndTrailers) {
  HttpResponseParser p;
  p.Reset();
  std::string body =
      "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
      "4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
  EXPECT_EQ(FeedBytewise(p, body), R::kDone);
  EXPECT_EQ(p.status(), 201);
}

TEST(HttpResponseParserTest, NoBodyStatusesCloseAndErrors) {
  HttpResponseParser p;
  p.Reset();
  std::string r204 = "HTTP/1.1 204 No Content\r\n\r\n";
  EXPECT_EQ(p.Feed(r204.data(), r204.size()), R::kDone);
  p.Reset(/*head_request=*/true);
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n";
  EXPECT_EQ(p.Feed(head.data(), head.size()), R::kDone);
  p.Reset();
  std::string close = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
  EXPECT_EQ(p.Feed(close.data(), close.size()), R::kNeedMore);
  EXPECT_EQ(p.Feed(nullptr, 0), R::kDone);
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  std::string cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
  EXPECT_EQ(p.Feed(cut.data(), cut.size()), R::kNeedMore);
  EXPECT_EQ(p.Feed(nullptr, 0), R::kError);
  p.Reset();
  std::string junk = "SSH-2.0-OpenSSH\r\n\r\n";
  EXPECT_EQ(p.Feed(junk.data(), junk.size()), R::kError);
  p.Reset();
  std::string badlen = "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n";
  EXPECT_EQ(p.Feed(badlen.data(), badlen.size()), R::kError);
  p.Reset();
  std::string closing = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(p.Feed(closing.data(), closing.size()), R::kDone);
  EXPECT_FALSE(p.keep_alive());
}

}  // namespace
}  // namespace perfgate::agent
