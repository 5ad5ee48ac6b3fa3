#include "lagscale/proxy/usage_scanner.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace lagscale::proxy {
namespace {

struct Seen {
  bool usage;
  uint64_t prompt, completion, skipped;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "usage=" << s.usage << " prompt=" << s.prompt << " completion=" << s.completion
            << " skipped=" << s.skipped;
}

Seen Result(const UsageScanner& s) {
  return {s.has_usage(), s.prompt_tokens(), s.completion_tokens(), s.skipped_events()};
}

// Scans `body` cut at every position (and byte by byte); every way must give the same answer.
void ExpectUsage(std::string_view body, bool event_stream, Seen expected) {
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    UsageScanner s;
    s.Start(event_stream);
    s.Feed(body.data(), cut);
    s.Feed(body.data() + cut, body.size() - cut);
    ASSERT_EQ(Result(s), expected) << body << " cut at " << cut;
  }
  UsageScanner s;
  s.Start(event_stream);
  for (char c : body) s.Feed(&c, 1);
  EXPECT_EQ(Result(s), expected) << body;
}

TEST(UsageScanner, ReadsTopLevelUsageOfAPlainAnswer) {
  ExpectUsage(R"({"id":"x","choices":[{"message":{"content":"hi","usage":{"prompt_tokens":99}}}],)"
              R"("usage":{"prompt_tokens":12,"total_tokens":19,"completion_tokens":7}})",
              false, {true, 12, 7, 0});
  ExpectUsage(R"({"object":"embedding","usage":{"prompt_tokens":5,"total_tokens":5}})", false,
              {true, 5, 0, 0});
  ExpectUsage(R"({"choices":[]})", false, {false, 0, 0, 0});
  ExpectUsage(R"({"usage":{"prompt_tokens":1.5,"completion_tokens":-2}})", false, {false, 0, 0, 0});
}

TEST(UsageScanner, TakesTheLastEventWithUsageInAStream) {
  const std::string stream =
      ": keep-alive comment\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\r\n\r\n"
      "event: message\rdata: {\"choices\":[],\r"
      "data: \"usage\":{\"prompt_tokens\":30,\"completion_tokens\":2}}\r\r"
      "data: [DONE]\n\n";
  ExpectUsage(stream, true, {true, 30, 2, 0});
}

TEST(UsageScanner, RunningTotalsCountOnceAtTheirLastValue) {
  ExpectUsage("data: {\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1}}\n\n"
              "data: {\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n"
              "data: {\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3}}\n\n"
              "data: [DONE]\n\n",
              true, {true, 4, 3, 0});
}

TEST(UsageScanner, AnUnfinishedEventDoesNotCount) {
  ExpectUsage("data: {\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1}}\n", true,
              {false, 0, 0, 0});
}

TEST(UsageScanner, OversizedEventIsSkippedAndCounted) {
  std::string big = "data: {\"choices\":[{\"delta\":{\"content\":\"";
  big.append(UsageScanner::kMaxEventBytes, 'x');
  big += "\"}}],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":9}}\n\n";
  UsageScanner s;
  s.Start(true);
  s.Feed(big.data(), big.size());
  const std::string next = "data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n";
  s.Feed(next.data(), next.size());
  EXPECT_EQ(Result(s), (Seen{true, 1, 2, 1}));
}

TEST(UsageScanner, FirstOutputIsTheFirstByteOrTheFirstEvent) {
  UsageScanner plain;
  plain.Start(false);
  EXPECT_FALSE(plain.first_output());
  plain.Feed("{", 1);
  EXPECT_TRUE(plain.first_output());

  UsageScanner stream;
  stream.Start(true);
  const std::string comment = ": ping\n\n";
  stream.Feed(comment.data(), comment.size());
  EXPECT_FALSE(stream.first_output()) << "a comment is not an event";
  const std::string partial = "data: {\"choices\":[]}\n";
  stream.Feed(partial.data(), partial.size());
  EXPECT_FALSE(stream.first_output()) << "the event is not complete before its blank line";
  stream.Feed("\n", 1);
  EXPECT_TRUE(stream.first_output());
  stream.Start(true);
  EXPECT_FALSE(stream.first_output()) << "Start() begins a new answer";
}

}  // namespace
}  // namespace lagscale::proxy

namespace lagscale::proxy {
namespace {

// Found by fuzz_json_model: a plain answer whose JSON breaks after its usage counted only when the
// break arrived in a later piece than the usage.
TEST(UsageScanner, PlainUsageCountsOnceReadWhateverFollows) {
  ExpectUsage(R"({"choices":[],"usage":{"prompt_tokens":3,"completion_jc":1}} not json)", false,
              {true, 3, 0, 0});
}

}  // namespace
}  // namespace lagscale::proxy
