// Image sources: files, bytes, base64 text, data: URIs and http URLs served by a local test
// server on 127.0.0.1 (images, 404, HTML, slow responses, redirect loops, oversized bodies).
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "glimpse/image_source.h"
#include "image/image_test_util.h"
#include "image/local_http_server.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using image_testing::HttpResponse;
using image_testing::LocalHttpServer;
using image_testing::preprocess_data_dir;

std::filesystem::path fixture_path(const std::string& name) { return preprocess_data_dir() / "images" / name; }

std::vector<std::uint8_t> fixture_bytes(const std::string& name) { return testing::read_bytes(fixture_path(name)); }

// Standard base64 with padding, from OpenSSL (an encoder independent of glimpse's decoder).
std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(n));
  return text;
}

RgbImage expect_loaded(const ImageSource& source, const ImageLoadOptions& options = {}) {
  auto image = load_image(source, options);
  EXPECT_TRUE(image.ok()) << source.description() << ": " << (image.ok() ? "" : image.error().to_string());
  return image.ok() ? std::move(image).value() : RgbImage{};
}

template <typename T>
void expect_error(const Result<T>& result, ErrorCode code, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(result.ok()) << "expected an error containing '" << *fragments.begin() << "'";
  EXPECT_EQ(result.error().code, code) << result.error().to_string();
  for (const std::string& fragment : fragments) {
    EXPECT_NE(result.error().message.find(fragment), std::string::npos)
        << "message '" << result.error().message << "' lacks '" << fragment << "'";
  }
}

const RgbImage& reference_png() {
  static const RgbImage image = image_testing::decode_file(fixture_path("png_p_trns_200x150.png")).rgb;
  return image;
}

// Files and bytes.

TEST(ImageSourceFile, LoadsPathAndBytesAlike) {
  const RgbImage from_path = expect_loaded(ImageSource::from_path(fixture_path("png_p_trns_200x150.png").string()));
  const RgbImage from_bytes = expect_loaded(ImageSource::from_bytes(fixture_bytes("png_p_trns_200x150.png")));
  EXPECT_EQ(from_path.pixels, reference_png().pixels);
  EXPECT_EQ(from_bytes.pixels, reference_png().pixels);
}

TEST(ImageSourceFile, MissingFileIsNamed) {
  expect_error(load_image(ImageSource::from_path("/nonexistent/cat.jpg")), ErrorCode::kNotFound,
               {"image file '/nonexistent/cat.jpg'", "not found"});
  testing::TempDir folder;
  expect_error(load_image(ImageSource::from_path(folder.path().string())), ErrorCode::kInvalidArgument,
               {"is a directory"});
}

TEST(ImageSourceFile, ByteLimitApplies) {
  ImageLoadOptions options;
  options.max_bytes = 100;
  expect_error(load_image(ImageSource::from_path(fixture_path("png_l_150x100.png").string()), options),
               ErrorCode::kOutOfRange, {"png_l_150x100.png", "max_bytes limit of 100"});
  expect_error(load_image(ImageSource::from_bytes(fixture_bytes("png_l_150x100.png"), "request image"), options),
               ErrorCode::kOutOfRange, {"request image", "max_bytes"});
}

TEST(ImageSourceFile, FromStringPicksTheKind) {
  EXPECT_EQ(ImageSource::from_string("https://example.com/a.png").kind(), ImageSource::Kind::kUrl);
  EXPECT_EQ(ImageSource::from_string("HTTP://example.com/a.png").kind(), ImageSource::Kind::kUrl);
  EXPECT_EQ(ImageSource::from_string("data:image/png;base64,AAAA").kind(), ImageSource::Kind::kDataUri);
  EXPECT_EQ(ImageSource::from_string("photos/http.png").kind(), ImageSource::Kind::kPath);
}

// Base64 and data URIs.

TEST(ImageSourceBase64, DecodesStandardText) {
  const std::string text = base64_encode(fixture_bytes("png_p_trns_200x150.png"));
  EXPECT_EQ(expect_loaded(ImageSource::from_base64(text)).pixels, reference_png().pixels);
}

TEST(ImageSourceBase64, AcceptsWhitespaceUrlSafeUnpadded) {
  const std::vector<std::uint8_t> bytes = {0xFB, 0xFF, 0xBF, 0x00, 0x10};
  const std::string standard = base64_encode(bytes);  // "+/+/ABA=" has both special characters
  ASSERT_EQ(standard, "+/+/ABA=");
  auto plain = decode_base64(standard, 100, "b64");
  ASSERT_TRUE(plain.ok()) << plain.error().to_string();
  EXPECT_EQ(*plain, bytes);
  auto wrapped = decode_base64("+/+/\r\nAB A=\n", 100, "b64");
  ASSERT_TRUE(wrapped.ok()) << wrapped.error().to_string();
  EXPECT_EQ(*wrapped, bytes);
  auto url_safe = decode_base64("-_-_ABA", 100, "b64");
  ASSERT_TRUE(url_safe.ok()) << url_safe.error().to_string();
  EXPECT_EQ(*url_safe, bytes);
  auto empty = decode_base64("", 100, "b64");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ImageSourceBase64, RejectsBadCharactersAndPadding) {
  expect_error(decode_base64("QUJD*EFG", 100, "field image"), ErrorCode::kInvalidFormat,
               {"field image", "invalid base64 character '*' at offset 4"});
  expect_error(decode_base64("QUJD\x01", 100, "b64"), ErrorCode::kInvalidFormat, {"byte 1 at offset 4"});
  expect_error(decode_base64("QUI=QUJD", 100, "b64"), ErrorCode::kInvalidFormat, {"data after '=' padding"});
  expect_error(decode_base64("QUJ==", 100, "b64"), ErrorCode::kInvalidFormat, {"padding", "expected 1"});
  expect_error(decode_base64("QUJDR===", 100, "b64"), ErrorCode::kInvalidFormat, {"length"});
  expect_error(decode_base64("QQ===", 100, "b64"), ErrorCode::kInvalidFormat, {"padding"});
  expect_error(decode_base64("QUJDR", 100, "b64"), ErrorCode::kInvalidFormat, {"leave 1 over a multiple of 4"});
  expect_error(decode_base64("+/-_", 100, "b64"), ErrorCode::kInvalidFormat, {"mixes"});
  expect_error(decode_base64("QUJDQUJD", 5, "b64"), ErrorCode::kOutOfRange, {"max_bytes"});
}

TEST(ImageSourceBase64, NonImageContentIsNamed) {
  const std::string text = base64_encode({'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  expect_error(load_image(ImageSource::from_base64(text)), ErrorCode::kUnsupported,
               {"base64 image", "text starting 'hello world'"});
}

TEST(ImageSourceDataUri, DecodesBase64AndPercent) {
  const std::vector<std::uint8_t> png = fixture_bytes("png_p_trns_200x150.png");
  const std::string uri = "data:image/png;base64," + base64_encode(png);
  EXPECT_EQ(expect_loaded(ImageSource::from_data_uri(uri)).pixels, reference_png().pixels);

  std::string percent = "data:image/png,";
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (std::uint8_t byte : png) {
    percent += '%';
    percent += kDigits[byte >> 4];
    percent += kDigits[byte & 15];
  }
  EXPECT_EQ(expect_loaded(ImageSource::from_string(percent)).pixels, reference_png().pixels);
}

TEST(ImageSourceDataUri, MalformedUrisAreNamed) {
  expect_error(load_image(ImageSource::from_data_uri("data:image/png;base64")), ErrorCode::kInvalidFormat,
               {"data URI", "no ','"});
  expect_error(load_image(ImageSource::from_data_uri("data:text/plain;base64,aGVsbG8=")), ErrorCode::kUnsupported,
               {"media type 'text/plain'"});
  expect_error(load_image(ImageSource::from_data_uri("data:image/png;base64,iVBO!")), ErrorCode::kInvalidFormat,
               {"invalid base64 character '!'"});
  expect_error(load_image(ImageSource::from_data_uri("data:image/png,%8")), ErrorCode::kInvalidFormat,
               {"percent escape"});
}

// URLs, against a server on 127.0.0.1 that this test starts.

HttpResponse response(int status, const std::string& content_type, const std::string& body) {
  HttpResponse result;
  result.status = status;
  result.content_type = content_type;
  result.body = body;
  return result;
}

HttpResponse redirect(const std::string& location) {
  HttpResponse result = response(302, "text/plain", "");
  result.location = location;
  return result;
}

class ImageSourceUrl : public ::testing::Test {
 protected:
  void SetUp() override {
    // libcurl honours http_proxy and friends; requests to the local server must not leave the
    // machine, whatever the environment of the test run.
    ::setenv("no_proxy", "127.0.0.1", 1);
    ::setenv("NO_PROXY", "127.0.0.1", 1);
    png_ = fixture_bytes("png_p_trns_200x150.png");
    const std::string png(png_.begin(), png_.end());
    server_.add("/image.png", response(200, "image/png", png));
    server_.add("/photo", response(200, "application/octet-stream", png));
    server_.add("/missing.png", response(404, "text/html", "<html><body>Not Found</body></html>"));
    server_.add("/error.png", response(500, "text/plain", "internal error"));
    server_.add("/page", response(200, "text/html; charset=utf-8", "<!DOCTYPE html><html><body>a gallery</body></html>"));
    HttpResponse slow = response(200, "image/png", png);
    slow.delay_before_body_ms = 3000;
    server_.add("/slow.png", slow);
    server_.add("/loop", redirect("/loop"));
    server_.add("/redirect", redirect("/image.png"));
    server_.add("/to-ftp", redirect("ftp://127.0.0.1/image.png"));
    server_.add("/big.png", response(200, "image/png", std::string(3 << 20, 'x')));
    HttpResponse unsized = response(200, "image/png", std::string(3 << 20, 'x'));
    unsized.send_length = false;
    server_.add("/big-unsized.png", unsized);
    options_.url_timeout_ms = 2000;
    options_.url_connect_timeout_ms = 2000;
  }

  LocalHttpServer server_;
  std::vector<std::uint8_t> png_;
  ImageLoadOptions options_;
};

TEST_F(ImageSourceUrl, DownloadsAnImage) {
  EXPECT_EQ(expect_loaded(ImageSource::from_url(server_.url("/image.png")), options_).pixels, reference_png().pixels);
  // The format comes from the bytes, not from the content type.
  EXPECT_EQ(expect_loaded(ImageSource::from_url(server_.url("/photo")), options_).pixels, reference_png().pixels);
}

TEST_F(ImageSourceUrl, FollowsOneRedirect) {
  EXPECT_EQ(expect_loaded(ImageSource::from_url(server_.url("/redirect")), options_).pixels, reference_png().pixels);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0], "/redirect");
  EXPECT_EQ(requests[1], "/image.png");
}

TEST_F(ImageSourceUrl, HttpErrorsNameStatus) {
  expect_error(load_image(ImageSource::from_url(server_.url("/missing.png")), options_), ErrorCode::kNotFound,
               {"image URL", "/missing.png", "HTTP 404"});
  expect_error(load_image(ImageSource::from_url(server_.url("/error.png")), options_), ErrorCode::kIoError,
               {"HTTP 500"});
}

TEST_F(ImageSourceUrl, HtmlPageIsNotAnImage) {
  expect_error(load_image(ImageSource::from_url(server_.url("/page")), options_), ErrorCode::kInvalidFormat,
               {"/page", "text/html", "not an image"});
}

TEST_F(ImageSourceUrl, SlowResponseTimesOut) {
  options_.url_timeout_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  expect_error(load_image(ImageSource::from_url(server_.url("/slow.png")), options_), ErrorCode::kOutOfRange,
               {"url_timeout_ms", "300 ms"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0) << "the timeout did not stop the transfer";
}

TEST_F(ImageSourceUrl, RedirectLoopStops) {
  options_.url_max_redirects = 3;
  expect_error(load_image(ImageSource::from_url(server_.url("/loop")), options_), ErrorCode::kOutOfRange,
               {"more than 3 redirects", "url_max_redirects"});
  EXPECT_EQ(server_.requests().size(), 4u);  // the first request and three redirects
}

TEST_F(ImageSourceUrl, ZeroRedirectsRejectsRedirect) {
  options_.url_max_redirects = 0;
  expect_error(load_image(ImageSource::from_url(server_.url("/redirect")), options_), ErrorCode::kOutOfRange,
               {"more than 0 redirects"});
}

TEST_F(ImageSourceUrl, OtherSchemeRedirectRejected) {
  expect_error(load_image(ImageSource::from_url(server_.url("/to-ftp")), options_), ErrorCode::kUnsupported,
               {"not http or https"});
}

TEST_F(ImageSourceUrl, SizeLimitStopsLargeBodies) {
  options_.max_url_bytes = 1 << 20;
  expect_error(load_image(ImageSource::from_url(server_.url("/big.png")), options_), ErrorCode::kOutOfRange,
               {"max_url_bytes limit of 1048576"});
  expect_error(load_image(ImageSource::from_url(server_.url("/big-unsized.png")), options_), ErrorCode::kOutOfRange,
               {"max_url_bytes"});
}

TEST_F(ImageSourceUrl, ConnectionRefusedFails) {
  const std::string url = "http://127.0.0.1:" + std::to_string(image_testing::unused_local_port()) + "/image.png";
  expect_error(load_image(ImageSource::from_url(url), options_), ErrorCode::kIoError, {"download failed"});
}

TEST(ImageSourceUrlScheme, OnlyHttpAndHttpsAccepted) {
  for (const std::string url : {"ftp://127.0.0.1/a.png", "file:///etc/passwd", "gopher://127.0.0.1/"}) {
    expect_error(load_image(ImageSource::from_url(url)), ErrorCode::kUnsupported, {"only http:// and https://"});
  }
}

}  // namespace
}  // namespace glimpse
