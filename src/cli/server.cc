// opendms server: the AWS endpoint. Owns the server's components (ServerMain), generates or
// reuses the root credentials in the data directory, prints where they are, and serves until
// SIGTERM/SIGINT; then stops accepting requests, lets those in flight finish and stops the
// components in reverse order.
//
// Data directory layout:
//   DIR/aws-credentials  root credentials, AWS shared-credentials format, profile "opendms", 0600
//   DIR/aws-config       region for profile "opendms"
//   DIR/buckets/         the S3 buckets (objectstore::OpenDiskStore)
//   DIR/multipart/       parts of multipart uploads in progress
//   DIR/catalog/         the catalog's private PostgreSQL (unless --catalog-url)
//   DIR/master.key       the key secrets and SecureStrings are encrypted with, 0600 (unless
//                        OPENDMS_MASTER_KEY gives it)
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>

#include "api/api.h"
#include "catalog/catalog.h"
#include "cli/commands.h"
#include "dms/dms.h"
#include "secrets/secrets.h"
#include "objectstore/objectstore.h"

namespace opendms::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kProfile = "opendms";
constexpr std::string_view kSecretAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct ServerConfig {
  std::string data_dir = "./opendms-data";
  std::string listen = "127.0.0.1:4566";
  std::string access_key, secret_key;  // empty: from the environment or the credentials file
  std::string region = "us-east-1";
  std::string catalog_url;  // empty: a private PostgreSQL under data_dir
};

Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return Status::InvalidArgument("--listen must be HOST:PORT, got '" + listen + "'");
  }
  const std::string port_text = listen.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    return Status::InvalidArgument("--listen port must be 0-65535, got '" + port_text + "'");
  }
  return std::make_pair(listen.substr(0, colon), static_cast<int>(port));
}

// The [opendms] profile's keys from a shared-credentials file; NotFound if it has none.
Result<api::Credentials> ReadCredentialsFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("no credentials file " + path.string());
  api::Credentials creds;
  bool in_profile = false;
  std::string line;
  auto trim = [](std::string s) {
    const char* ws = " \t\r";
    s.erase(0, s.find_first_not_of(ws));
    s.erase(s.find_last_not_of(ws) + 1);
    return s;
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      in_profile = line == "[" + std::string(kProfile) + "]";
      continue;
    }
    const size_t eq = line.find('=');
    if (!in_profile || eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") creds.access_key_id = value;
    if (key == "aws_secret_access_key") creds.secret_access_key = value;
  }
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) {
    return Status::InvalidArgument(path.string() + " has no complete [" + std::string(kProfile) +
                                   "] profile (aws_access_key_id, aws_secret_access_key)");
  }
  return creds;
}

// Writes `text` to `path` with mode 0600 (created so; never readable by others in between).
Status WritePrivateFile(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  FILE* f = nullptr;
  {
    const mode_t old = ::umask(077);
    f = std::fopen(tmp.c_str(), "w");
    ::umask(old);
  }
  if (f == nullptr) return Status::FromErrno("writing " + tmp.string(), errno);
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) return Status::FromErrno("writing " + tmp.string(), errno);
  ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError("renaming " + tmp.string() + ": " + ec.message());
  return Status::Ok();
}

// The root credentials: flags, then the environment, then DIR/aws-credentials, else new ones.
// The file always ends up holding the credentials in effect, so the banner's example works.
Result<api::Credentials> ResolveCredentials(const ServerConfig& config, const fs::path& file,
                                            bool* generated) {
  api::Credentials creds{config.access_key, config.secret_key};
  auto from_env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  if (creds.access_key_id.empty()) creds.access_key_id = from_env("OPENDMS_ACCESS_KEY_ID");
  if (creds.secret_access_key.empty()) {
    creds.secret_access_key = from_env("OPENDMS_SECRET_ACCESS_KEY");
  }
  if (creds.access_key_id.empty() != creds.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "give both the access key (--access-key / OPENDMS_ACCESS_KEY_ID) and the secret key "
        "(--secret-key / OPENDMS_SECRET_ACCESS_KEY), or neither");
  }
  *generated = false;
  if (creds.access_key_id.empty()) {
    Result<api::Credentials> stored = ReadCredentialsFile(file);
    if (stored.ok()) return stored;
    if (!stored.status().IsNotFound()) return stored.status();
    creds = {"AKIA" + RandomString(16, kUpperAlnum), RandomString(40, kSecretAlphabet)};
    *generated = true;
  }
  RETURN_IF_ERROR(WritePrivateFile(
      file, "[" + std::string(kProfile) + "]\naws_access_key_id = " + creds.access_key_id +
                "\naws_secret_access_key = " + creds.secret_access_key + "\n"));
  return creds;
}

}  // namespace

// Everything the server runs. Built in dependency order by Build and stopped in reverse by
// Stop: the HTTP endpoint first (no new requests), then the services, then the stores.
// A component is added here: a member that owns it, a line in Build that creates it and
// registers it with the api::Server, and its shutdown (if it has one) in Stop.
class ServerMain {
 public:
  static Result<std::unique_ptr<ServerMain>> Build(const ServerConfig& config,
                                                   const api::Credentials& root) {
    auto main = std::unique_ptr<ServerMain>(new ServerMain());
    const fs::path dir = config.data_dir;
    ASSIGN_OR_RETURN(main->buckets_, objectstore::OpenDiskStore((dir / "buckets").string()));
    catalog::Options catalog_options;
    catalog_options.data_dir = dir.string();
    catalog_options.url = config.catalog_url;
    ASSIGN_OR_RETURN(main->catalog_, catalog::Catalog::Open(catalog_options));
    ASSIGN_OR_RETURN(main->master_key_, secrets::MasterKey::Load(dir.string()));
    ASSIGN_OR_RETURN(main->secrets_manager_,
                     secrets::SecretsManagerService::Create(*main->catalog_, *main->master_key_));
    ASSIGN_OR_RETURN(main->parameter_store_,
                     secrets::ParameterStoreService::Create(*main->catalog_, *main->master_key_,
                                                            *main->secrets_manager_));
    dms::Options dms_options;
    dms_options.context.region = config.region;
    dms_options.master_key = &*main->master_key_;
    ASSIGN_OR_RETURN(main->dms_, dms::DmsService::Create(*main->catalog_, *main->buckets_,
                                                         main->SecretResolver(), dms_options));

    api::S3Options s3_options;
    s3_options.staging_dir = (dir / "multipart").string();
    s3_options.region = config.region;
    // A new object wakes the tasks that read its bucket (no waiting for their next poll).
    dms::DmsService* dms = main->dms_.get();
    s3_options.on_object_written = [dms](std::string_view bucket, std::string_view key) {
      dms->NotifyObjectWritten(bucket, key);
    };
    ASSIGN_OR_RETURN(main->s3_handler_, api::NewS3Handler(*main->buckets_, s3_options));
    ASSIGN_OR_RETURN(auto listen, ParseListen(config.listen));
    api::ServerOptions options;
    options.host = listen.first;
    options.port = listen.second;
    options.root = root;
    options.region = config.region;
    main->server_ = std::make_unique<api::Server>(options);
    main->server_->RegisterJsonService(*main->secrets_manager_);
    main->server_->RegisterJsonService(*main->parameter_store_);
    main->server_->RegisterJsonService(*main->dms_);
    if (main->s3_handler_) main->server_->SetS3Handler(*main->s3_handler_);
    return main;
  }

  // Listens, then resumes the tasks that were running when the server last stopped or died.
  Status Start() {
    RETURN_IF_ERROR(server_->Start());
    return dms_->Start();
  }
  void Stop() {
    if (server_) server_->Stop();
    if (dms_) dms_->Shutdown();  // tasks stop at a checkpoint and resume at the next start
    dms_.reset();
    s3_handler_.reset();
    parameter_store_.reset();
    secrets_manager_.reset();
    catalog_.reset();  // stops the private PostgreSQL
    buckets_.reset();
  }
  ~ServerMain() { Stop(); }

  const api::Server& server() const { return *server_; }

 private:
  ServerMain() = default;
  // A target endpoint's SecretsManagerSecretId, resolved through this server's Secrets Manager.
  dms::SecretResolver SecretResolver() {
    secrets::SecretsManagerService* secrets = secrets_manager_.get();
    return [secrets](std::string_view secret_id, const CallContext& context) {
      return secrets->CurrentSecretString(secret_id, context);
    };
  }

  std::unique_ptr<objectstore::ObjectStore> buckets_;  // DIR/buckets
  std::unique_ptr<catalog::Catalog> catalog_;
  std::optional<secrets::MasterKey> master_key_;
  std::unique_ptr<secrets::SecretsManagerService> secrets_manager_;
  std::unique_ptr<secrets::ParameterStoreService> parameter_store_;
  std::unique_ptr<api::Handler> s3_handler_;                 // REST-XML over buckets_
  std::unique_ptr<dms::DmsService> dms_;
  std::unique_ptr<api::Server> server_;
};

namespace {

int RunServer(const ServerConfig& config) {
  const fs::path dir = config.data_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "opendms server: cannot create data directory %s: %s\n",
                 dir.c_str(), ec.message().c_str());
    return 2;
  }
  const fs::path credentials_file = fs::absolute(dir / "aws-credentials");
  const fs::path config_file = fs::absolute(dir / "aws-config");
  bool generated = false;
  Result<api::Credentials> root = ResolveCredentials(config, credentials_file, &generated);
  if (!root.ok()) {
    std::fprintf(stderr, "opendms server: %s\n", root.status().ToString().c_str());
    return 2;
  }
  if (Status st = WritePrivateFile(config_file, "[profile " + std::string(kProfile) +
                                                    "]\nregion = " + config.region + "\n");
      !st.ok()) {
    std::fprintf(stderr, "opendms server: %s\n", st.ToString().c_str());
    return 2;
  }

  // SIGTERM/SIGINT are taken by sigwait below; blocked before any thread starts, so that no
  // server thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<std::unique_ptr<ServerMain>> main = ServerMain::Build(config, *root);
  if (!main.ok()) {
    std::fprintf(stderr, "opendms server: %s\n", main.status().ToString().c_str());
    return 2;
  }
  if (Status st = (*main)->Start(); !st.ok()) {
    std::fprintf(stderr, "opendms server: %s\n", st.ToString().c_str());
    return 1;
  }
  const std::string endpoint = (*main)->server().endpoint();
  std::printf(
      "opendms server listening on %s\n"
      "credentials: %s (profile %s%s)\n"
      "\n"
      "  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s AWS_PROFILE=%s "
      "AWS_DEFAULT_REGION=%s\n"
      "  aws --endpoint-url %s s3 ls\n",
      endpoint.c_str(), credentials_file.c_str(), std::string(kProfile).c_str(),
      generated ? ", generated now" : "", credentials_file.c_str(), config_file.c_str(),
      std::string(kProfile).c_str(), config.region.c_str(), endpoint.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("[server] {} received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*main)->Stop();
  return 0;
}

}  // namespace

void AddServer(CLI::App& app, int* exit_code) {
  auto config = std::make_shared<ServerConfig>();
  CLI::App* cmd = app.add_subcommand(
      "server", "Serve the AWS APIs (S3, Secrets Manager, SSM, DMS) on one endpoint");
  cmd->fallthrough();  // --log-level is the app's
  cmd->add_option("--data-dir", config->data_dir, "where buckets, catalog and credentials live")
      ->capture_default_str();
  cmd->add_option("--listen", config->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--access-key", config->access_key,
                  "root access key id (default: OPENDMS_ACCESS_KEY_ID, else DIR/aws-credentials, "
                  "else generated)");
  cmd->add_option("--secret-key", config->secret_key,
                  "root secret access key (default: OPENDMS_SECRET_ACCESS_KEY, …)");
  cmd->add_option("--region", config->region, "the region clients use")->capture_default_str();
  cmd->add_option("--catalog-url", config->catalog_url,
                  "an existing PostgreSQL for the catalog (default: a private one under DIR)");
  cmd->callback([config, exit_code] { *exit_code = RunServer(*config); });
}

}  // namespace opendms::cli
