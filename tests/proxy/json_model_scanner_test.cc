#include "lagscale/proxy/json_model_scanner.h"

#include <optional>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lagscale/metrics/model_table.h"

namespace lagscale::proxy {
namespace {

using Result = JsonModelScanner::Result;

// What the scanner says about `body` fed whole, then at the end of the body.
std::optional<std::string> ScanWhole(std::string_view body) {
  JsonModelScanner s;
  if (s.Feed(body) == Result::kScanning) s.Finish();
  if (s.result() != Result::kFound) return std::nullopt;
  return std::string(s.model());
}

// The same body fed in two pieces cut at `cut`.
std::optional<std::string> ScanSplit(std::string_view body, size_t cut) {
  JsonModelScanner s;
  s.Feed(body.substr(0, cut));
  if (s.Feed(body.substr(cut)) == Result::kScanning) s.Finish();
  if (s.result() != Result::kFound) return std::nullopt;
  return std::string(s.model());
}

std::optional<std::string> ScanByteByByte(std::string_view body) {
  JsonModelScanner s;
  for (char c : body) s.Feed(&c, 1);
  if (s.result() == Result::kScanning) s.Finish();
  if (s.result() != Result::kFound) return std::nullopt;
  return std::string(s.model());
}

// Every way of feeding `body` gives `expected`.
void ExpectModel(std::string_view body, const std::optional<std::string>& expected) {
  EXPECT_EQ(ScanWhole(body), expected) << body;
  EXPECT_EQ(ScanByteByByte(body), expected) << body;
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    ASSERT_EQ(ScanSplit(body, cut), expected) << body << " cut at " << cut;
  }
}

TEST(JsonModelScanner, FindsModelFirstOrLast) {
  ExpectModel(R"({"model":"llama-3","messages":[{"role":"user","content":"hi"}]})", "llama-3");
  ExpectModel(R"({"messages":[{"role":"user","content":"hi"}],"model":"llama-3"})", "llama-3");
  ExpectModel(R"({"stream":true,"temperature":0.7,"n":1,"stop":null,"model":"m"})", "m");
}

TEST(JsonModelScanner, IgnoresNestedModelKeys) {
  ExpectModel(R"({"messages":[{"model":"inner","content":"x"}],"model":"outer"})", "outer");
  ExpectModel(R"({"tools":[{"function":{"model":"deep"}}],"metadata":{"model":"m2"}})",
              std::nullopt);
  ExpectModel(R"({"extra":{"model":"nested"},"model":"top"})", "top");
}

TEST(JsonModelScanner, DecodesEscapesInKeysAndNames) {
  ExpectModel(R"({"mod\u0065l":"a\u002Db"})", "a-b");
  ExpectModel(R"({"model":"gpt\/4"})", "gpt/4");
  ExpectModel(R"({"content":"a \"model\": \"fake\" \\","model":"real"})", "real");
  // A surrogate pair decodes to one 4-byte UTF-8 character (the table then refuses the name).
  ExpectModel(R"({"model":"x\ud83d\ude00"})", "x\xF0\x9F\x98\x80");
  ExpectModel(R"({"model":"\u00e9"})", "\xC3\xA9");
}

TEST(JsonModelScanner, AllowsWhitespaceWhereJsonDoes) {
  ExpectModel(" \r\n\t{ \"a\" : [ 1 , 2.5e-3 , true , false , null ] ,\n\t\"model\"\t:\r \"m\" } ",
              "m");
}

TEST(JsonModelScanner, FindsModelAfterAMebibyteOfMessages) {
  std::string body = R"({"messages":[)";
  while (body.size() < (1u << 20)) {
    body += R"({"role":"user","content":"lorem ipsum \"quoted\" \u00e9 model: x"},)";
  }
  body += R"({"role":"assistant","content":"ok"}],"model":"big-model"})";
  EXPECT_EQ(ScanWhole(body), "big-model");
  EXPECT_EQ(ScanByteByByte(body), "big-model");
  EXPECT_EQ(ScanSplit(body, body.size() / 2 + 7), "big-model");
}

TEST(JsonModelScanner, StopsOnceFound) {
  JsonModelScanner s;
  EXPECT_EQ(s.Feed(std::string_view(R"({"model":"m", then anything that is not JSON)")),
            Result::kFound);
  EXPECT_EQ(s.Feed(std::string_view("]]]")), Result::kFound);
  EXPECT_EQ(s.model(), "m");
}

TEST(JsonModelScanner, NoModelOrNotJsonGivesNone) {
  for (const char* body : {R"({"messages":[]})", R"({})", R"([{"model":"m"}])", R"("model")",
                           R"({"model":5})", R"({"model":null,"x":"m"})", R"({"model":["m"]})",
                           R"({"a":1,,"model":"m"})", R"({"a":01,"model":"m"})",
                           R"({"a":"\x","model":"m"})", R"({"a":"\ud800","model":"m"})",
                           R"({"a":tru,"model":"m"})", R"({"a":[},"model":"m"})",
                           "{\"a\":\"raw\ncontrol\",\"model\":\"m\"}", R"({"model")", R"({"mo)",
                           "", "   "}) {
    ExpectModel(body, std::nullopt);
  }
}

TEST(JsonModelScanner, TruncatedBodyGivesNoneAtFinish) {
  JsonModelScanner s;
  EXPECT_EQ(s.Feed(std::string_view(R"({"messages":[{"role":"user")")), Result::kScanning);
  EXPECT_EQ(s.Finish(), Result::kNone);
}

TEST(JsonModelScanner, OverlongNameIsReportedOverTheTableLimit) {
  const std::string name(300, 'a');
  const auto found = ScanWhole(R"({"model":")" + name + R"("})");
  ASSERT_TRUE(found.has_value());
  EXPECT_GT(found->size(), metrics::kMaxModelNameBytes);
  EXPECT_EQ(*found, name.substr(0, found->size()));
}

TEST(JsonModelScanner, ResetStartsANewDocument) {
  JsonModelScanner s;
  s.Feed(std::string_view(R"({"model":"first"})"));
  s.Reset();
  EXPECT_EQ(s.Feed(std::string_view(R"({"x":{"model":"no"},"model":"second"})")), Result::kFound);
  EXPECT_EQ(s.model(), "second");
}

// Random JSON values: nested objects and arrays with "model" keys at every level, strings with
// escapes and non-ASCII characters, numbers of every form.
class RandomJson {
 public:
  explicit RandomJson(uint32_t seed) : rng_(seed) {}

  nlohmann::json Document() {
    nlohmann::json doc = Object(0);
    if (Pick(3) == 0) doc["model"] = Name();
    return doc;
  }

 private:
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string Name() {
    static const std::string kChars = "abcXYZ019-_./\"\\ \t\n\x01\x7f";
    std::string s;
    for (size_t i = Pick(12); i > 0; --i) s += kChars[Pick(kChars.size())];
    if (Pick(4) == 0) s += "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // é € 😀
    return s;
  }

  std::string Key() {
    static const char* kKeys[] = {"model", "messages", "role", "content", "mod", "modelx", "m"};
    return Pick(3) == 0 ? Name() : kKeys[Pick(7)];
  }

  nlohmann::json Object(int depth) {
    nlohmann::json o = nlohmann::json::object();
    for (size_t i = depth == 0 ? 2 + Pick(8) : Pick(depth < 3 ? 5 : 2); i > 0; --i) {
      const std::string key = Key();
      if (depth == 0 && key == "model") continue;  // the top-level one is set by Document()
      o[key] = Value(depth + 1);
    }
    return o;
  }

  nlohmann::json Value(int depth) {
    switch (Pick(depth < 4 ? 8 : 6)) {
      case 0:
        return Name();
      case 1:
        return static_cast<int64_t>(rng_()) - (1ll << 31);
      case 2:
        return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
      case 3:
        return Pick(2) == 0;
      case 4:
        return nullptr;
      case 5:
        return Pick(2) == 0 ? nlohmann::json("model") : nlohmann::json(0);
      case 6:
        return Object(depth);
      default: {
        nlohmann::json a = nlohmann::json::array();
        for (size_t i = Pick(4); i > 0; --i) a.push_back(Value(depth + 1));
        return a;
      }
    }
  }

  std::mt19937 rng_;
};

// Serialises with random whitespace between tokens (nlohmann's indent puts it in every place
// JSON allows whitespace outside strings, with a random indent character set).
std::string Serialize(const nlohmann::json& doc, size_t style) {
  switch (style % 4) {
    case 0:
      return doc.dump();
    case 1:
      return doc.dump(1, '\t');
    case 2:
      return doc.dump(2, ' ', /*ensure_ascii=*/true);  // every non-ASCII char as \uXXXX
    default:
      return " \r\n" + doc.dump(0) + "\n";
  }
}

TEST(JsonModelScanner, AgreesWithAJsonParserOnRandomDocumentsSplitAnywhere) {
  RandomJson gen(20261202);
  int with_model = 0;
  size_t bytes = 0;
  for (int i = 0; i < 300; ++i) {
    const nlohmann::json doc = gen.Document();
    const std::string body = Serialize(doc, static_cast<size_t>(i));
    std::optional<std::string> expected;
    if (doc.contains("model") && doc["model"].is_string()) expected = doc["model"];
    ASSERT_EQ(nlohmann::json::parse(body), doc);
    ExpectModel(body, expected);
    if (HasFailure()) return;
    with_model += expected.has_value();
    bytes += body.size();
  }
  // The generator covers both answers, on documents of some size.
  EXPECT_GT(with_model, 50);
  EXPECT_LT(with_model, 250);
  EXPECT_GT(bytes, 300u * 100);
}

// A random document cut short anywhere is never reported as having a model it has not shown yet,
// and a valid document that the parser accepts always ends (no kScanning left after Finish()).
TEST(JsonModelScanner, TruncatedRandomDocumentsNeverInventAModel) {
  RandomJson gen(7);
  for (int i = 0; i < 100; ++i) {
    const std::string body = gen.Document().dump();
    for (size_t cut = 0; cut < body.size(); ++cut) {
      JsonModelScanner s;
      s.Feed(std::string_view(body).substr(0, cut));
      if (s.result() == Result::kScanning) s.Finish();
      if (s.result() == Result::kFound) {
        const auto whole = ScanWhole(body);
        ASSERT_TRUE(whole.has_value()) << body << " cut at " << cut;
        ASSERT_EQ(std::string(s.model()), *whole) << body << " cut at " << cut;
      }
    }
  }
}

}  // namespace
}  // namespace lagscale::proxy
