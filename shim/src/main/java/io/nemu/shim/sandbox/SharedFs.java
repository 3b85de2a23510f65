package io.nemu.shim.sandbox;

import io.nemu.contract.GuestContract;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.Storage;
import io.nemu.shim.mount.Mounts;
import io.nemu.shim.mount.SafeTree;
import io.nemu.shim.oci.Bundle;
import io.nemu.vmm.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sandbox's folder on the host that the guest sees as {@link GuestContract#SHARED_DIR} (virtio-fs,
 * tag {@link GuestContract#SHARED_FS_TAG}): each container's rootfs is mounted at {@code <cid>/rootfs},
 * the host paths its spec binds ({@link HostMounts}) under {@code <cid>/mounts/}. Every mount the shim
 * makes, and its removal, happens here.
 */
public final class SharedFs {
    private static final Logger log = LoggerFactory.getLogger(SharedFs.class);

    private final SandboxPaths paths;

    SharedFs(SandboxPaths paths) {
        this.paths = paths;
    }

    /**
     * Makes {@code dir} the folder virtiofsd exports. virtiofsd moves into its own mount namespace (a slave
     * copy of ours) once QEMU connects, so rootfs mounted under the folder later only reach it if the folder
     * is a shared mount: it is bind-mounted onto itself and marked shared before virtiofsd starts.
     */
    public static void prepare(Path dir) throws IOException {
        // Owner-only like everything below it the shim makes: only root (virtiofsd) reads it on the host.
        PrivateFiles.directories(dir);
        Mounts.mount(List.of("--bind", dir.toString(), dir.toString()));
        Mounts.mount(List.of("--make-shared", dir.toString()));
    }

    /** The guest's mount of the folder, a storage of CreateSandbox. */
    static Storage guestStorage() {
        return Storage.newBuilder().setDriver("virtio-fs").setSource(GuestContract.SHARED_FS_TAG)
                .setFstype("virtiofs").setMountPoint(GuestContract.SHARED_DIR).addOptions("nodev").build();
    }

    /** Mounts the container's rootfs (containerd's mounts, else the bundle's root folder) into the folder. */
    void mountRootfs(String cid, Bundle bundle, List<Mount> rootfs) throws IOException {
        Path target = paths.containerRootfs(cid);
        PrivateFiles.directories(target);
        if (rootfs.isEmpty()) {
            Path own = bundle.dir().resolve(bundle.spec().path("root").path("path").asText("rootfs"));
            Mounts.mount(List.of("--bind", own.toString(), target.toString()));
            return;
        }
        for (Mount m : rootfs) {
            List<String> args = new ArrayList<>(List.of("-t", m.getType()));
            if (m.getOptionsCount() > 0) {
                args.addAll(List.of("-o", String.join(",", m.getOptionsList())));
            }
            args.addAll(List.of(m.getSource(), target.toString()));
            Mounts.mount(args);
        }
    }

    /**
     * Binds the spec's host paths into the folder (read-only on the host too where the mount is) and points
     * the spec at their guest paths; returns what it bound.
     */
    List<HostMounts.Share> shareHostMounts(String cid, Spec.Builder spec) throws IOException {
        List<HostMounts.Share> shares = HostMounts.plan(cid, spec);
        for (HostMounts.Share share : shares) {
            Path source = Path.of(share.source());
            if (!Files.exists(source)) {
                throw new IOException("bind mount source " + share.source() + " (for " + share.destination()
                        + ") does not exist");
            }
            Path target = paths.shared().resolve(cid).resolve("mounts").resolve(share.name());
            PrivateFiles.directories(target.getParent());
            if (Files.isDirectory(source)) {
                PrivateFiles.directories(target);
            } else {
                PrivateFiles.file(target);
            }
            if (share.readOnly()) {
                bindReadOnly(cid, share, target);
            } else {
                Mounts.mount(List.of(bindFlag(share), share.source(), target.toString()));
            }
        }
        return shares;
    }

    private static String bindFlag(HostMounts.Share share) {
        return share.recursive() ? "--rbind" : "--bind";
    }

    /**
     * Binds a host path read-only into the share, read-only in virtiofsd's mount namespace too, so that a guest
     * root that mounts the share itself (bypassing its own ro bind) cannot write. A remount changes only the mount
     * it names, and propagation carries new mounts, not later flag changes: a bind into the share remounted ro
     * afterwards stays writable in virtiofsd's copy. So the bind is made read-only first, at a staging point
     * outside the share, and that read-only mount is bound into the share (a bind, and every propagated copy of
     * it, takes the flags of the mount it copies); the staging mount then goes.
     */
    private void bindReadOnly(String cid, HostMounts.Share share, Path target) throws IOException {
        Path staging = paths.sharedBase().resolve("staging").resolve(cid + "-" + share.name());
        PrivateFiles.directories(staging.getParent());
        if (Files.isDirectory(target)) {
            PrivateFiles.directories(staging);
        } else {
            PrivateFiles.file(staging);
        }
        try {
            Mounts.mount(List.of(bindFlag(share), share.source(), staging.toString()));
            Mounts.mount(List.of("-o", "remount,bind,ro", staging.toString()));
            Mounts.mount(List.of(bindFlag(share), staging.toString(), target.toString()));
        } catch (IOException e) {
            try {
                SafeTree.host().unmountAndRemove(staging);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
        SafeTree.host().unmountAndRemove(staging);
    }

    /**
     * Unmounts and removes a container's folder. It holds the container's host volumes: when anything stays
     * mounted the folder stays too ({@link SafeTree}), and the log says what and why.
     */
    void removeContainer(String cid) {
        try {
            SafeTree.host().unmountAndRemove(paths.shared().resolve(cid)).forEach(l -> log.debug("{}", l));
        } catch (IOException e) {
            log.error("container {}: {}", cid, e.getMessage());
        }
    }

    /** Unmounts (each logged) and removes everything under the sandbox's shared base, or leaves it and throws. */
    void removeAll() throws IOException {
        SafeTree.host().unmountAndRemove(paths.sharedBase()).forEach(l -> log.info("{}", l));
    }
}
