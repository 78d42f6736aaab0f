# OCI image of the platform: `nix build .#image && docker load < result`.
# Layered, so a rebuild of the binary reuses the layers of its dependencies.
{ pkgs, platform }:
let
  # A fixed, unprivileged id (distroless's "nonroot") that owns nothing but
  # the data directory.
  uid = "65532";

  # Some libraries ask the passwd database who they run as.
  etc = [
    (pkgs.writeTextDir "etc/passwd" ''
      root:x:0:0:root:/root:/sbin/nologin
      platform:x:${uid}:${uid}:platform:/data:/sbin/nologin
    '')
    (pkgs.writeTextDir "etc/group" ''
      root:x:0:
      platform:x:${uid}:
    '')
  ];
in
pkgs.dockerTools.buildLayeredImage {
  name = "platform";
  tag = platform.version;

  # cacert: TLS to payment gateways, OTLP collectors and anything else
  # outside, since rustls finds no system roots in an empty image.
  contents = [
    platform
    pkgs.cacert
  ]
  ++ etc;

  # The embedded default keeps its SQLite file under ./var: make the working
  # directory the user's own, and give the process a /tmp.
  fakeRootCommands = ''
    mkdir -p data/var tmp
    chown -R ${uid}:${uid} data
    chmod 1777 tmp
  '';

  config = {
    User = "${uid}:${uid}";
    WorkingDir = "/data";
    Entrypoint = [ "${platform}/bin/platform" ];
    Cmd = [ "serve" ];
    ExposedPorts."8080/tcp" = { };
    Env = [
      # Listen on every interface inside the container (the default,
      # 127.0.0.1:8080, would be unreachable from outside it).
      "PLATFORM__HTTP__LISTEN=0.0.0.0:8080"
      "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"
    ];
    # SQLite data (embedded mode); unused when DATABASE_URL points at Postgres.
    Volumes."/data/var" = { };
  };
}
