# tandem's image, from local parts only: "make image" stages a static tandem,
# the CA certificates, and a passwd and group naming the nonroot user
# (65532) under .cache/image/, and builds this file there. Nothing is
# pulled, so the image builds offline.
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 home/ /home/nonroot/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tandem"]
