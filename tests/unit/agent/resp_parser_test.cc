// The redis protocol's reply parser and command encoder (agent/load/resp_parser.h): every RESP2
// reply type, whole or fed a byte at a time, error replies told apart, and malformed or
// truncated replies refused.
#include "agent/load/resp_parser.h"

#include <string>

#include "gtest/gtest.h"

namespace perfgate::agent {
namespace {

RespParser::Result FeedAll(RespParser& p, const std::string& bytes, bool byte_at_a_time) {
  p.Reset();
  RespParser::Result r = RespParser::Result::kNeedMore;
  if (!byte_at_a_time) return p.Feed(bytes.data(), bytes.size());
  for (char c : bytes) {
    r = p.Feed(&c, 1);
    if (r != RespParser::Result::kNeedMore) return r;
  }
  return r;
}

TEST(RespParserTest, ReadsEveryReplyTypeWholeOrByteByByte) {
  const std::string replies[] = {"+OK\r\n",         ":1024\r\n",
                                 "$5\r\nhello\r\n", "$-1\r\n",
                                 "$0\r\n\r\n",      "*2\r\n$8\r\n10.0.0.2\r\n$4\r\n6379\r\n",
                                 "*-1\r\n",         "*2\r\n*1\r\n:1\r\n+x\r\n",
                                 "$4\r\na\r\nb\r\n"};  // a bulk string may hold CRLF
  for (const std::string& reply : replies) {
    for (bool slow : {false, true}) {
      RespParser p;
      EXPECT_EQ(FeedAll(p, reply, slow), RespParser::Result::kDone) << reply << p.error();
      EXPECT_FALSE(p.error_reply()) << reply;
    }
  }
}

TEST(RespParserTest, KeepsTheReplysStringsWhenAsked) {
  RespParser p(/*keep_strings=*/true);
  EXPECT_EQ(FeedAll(p, "*2\r\n$8\r\n10.0.0.2\r\n$4\r\n6379\r\n", true), RespParser::Result::kDone);
  EXPECT_EQ(p.strings(), (std::vector<std::string>{"10.0.0.2", "6379"})) << "fed a byte at a time";
  EXPECT_EQ(FeedAll(p, "*-1\r\n", false), RespParser::Result::kDone);
  EXPECT_TRUE(p.strings().empty()) << "a null array: nothing";
  RespParser off;
  EXPECT_EQ(FeedAll(off, "$5\r\nhello\r\n", false), RespParser::Result::kDone);
  EXPECT_TRUE(off.strings().empty()) << "not kept unless asked";
}

TEST(RespParserTest, ErrorRepliesAreRepliesThatSayFailure) {
  RespParser p;
  EXPECT_EQ(FeedAll(p, "-READONLY You can't write against a read only replica.\r\n", true),
            RespParser::Result::kDone);
  EXPECT_TRUE(p.error_reply());
  p.Reset();
  EXPECT_FALSE(p.error_reply()) << "reset for the next reply";
  // An error inside an array is data, not a failed command.
  EXPECT_EQ(FeedAll(p, "*1\r\n-ERR inner\r\n", false), RespParser::Result::kDone);
  EXPECT_FALSE(p.error_reply());
}

TEST(RespParserTest, MalformedOrCutRepliesAreErrors) {
  struct Case {
    std::string bytes, want;
  } cases[] = {
      {"?what\r\n", "not a RESP reply"},
      {":12x\r\n", "an integer reply that is no integer"},
      {"$-2\r\n", "a bulk string of bad length"},
      {"$3\r\nabcde\r\n", "a bulk string not ended by CRLF"},
      {"*99999999\r\n", "an array of bad length"},
      {"+OK\r\n+extra\r\n", "bytes after the reply"},
      {"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
       "nested deeper than 8"},
  };
  for (const Case& c : cases) {
    RespParser p;
    EXPECT_EQ(FeedAll(p, c.bytes, false), RespParser::Result::kError) << c.bytes;
    EXPECT_NE(p.error().find(c.want), std::string::npos) << c.bytes << ": " << p.error();
  }
  RespParser p;
  EXPECT_EQ(FeedAll(p, "$5\r\nhel", false), RespParser::Result::kNeedMore);
  EXPECT_EQ(p.Feed(nullptr, 0), RespParser::Result::kError) << "closed mid-reply";
  EXPECT_NE(p.error().find("closed"), std::string::npos);
}

TEST(RespParserTest, CommandsAreArraysOfBulkStrings) {
  EXPECT_EQ(EncodeRespCommand({"SET", "key", "a b\r\n"}),
            "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\na b\r\n\r\n");
  EXPECT_EQ(EncodeRespCommand({"PING"}), "*1\r\n$4\r\nPING\r\n");
}

}  // namespace
}  // namespace perfgate::agent
