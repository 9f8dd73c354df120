// Download of one blob into the cache: under the blob's lock, into blobs/<etag>.incomplete,
// resumed with a Range request from the bytes already there, checked against the announced size
// and checksum, then renamed to blobs/<etag>.
#pragma once

#include <cstdint>

#include "glimpse/hub.h"
#include "glimpse/status.h"
#include "hub/cache.h"
#include "hub/http.h"
#include "hub/progress.h"
#include "hub/remote.h"
#include "hub/settings.h"

namespace glimpse::hub {

struct BlobDownloader {
  HttpClient& client;
  const HubSettings& settings;
  const HubOptions& options;
  const RepoCache& cache;
  const HubRemote& remote;
  ProgressTracker& progress;
  std::uint64_t downloaded_bytes = 0;  // received over the network, all files together

  // Makes blobs/<file.etag> exist with the verified content of `file`. On failure the
  // .incomplete file is kept when its bytes can seed a resume (interrupted transfer, full disk)
  // and deleted when they cannot (checksum mismatch, more bytes than announced). The error message
  // states which.
  Status download(const RemoteFile& file);
};

}  // namespace glimpse::hub
