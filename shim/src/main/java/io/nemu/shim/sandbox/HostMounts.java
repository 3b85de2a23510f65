package io.nemu.shim.sandbox;

import io.nemu.contract.GuestContract;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import java.util.ArrayList;
import java.util.List;

/**
 * Which of a container's mounts name host paths and how the guest reaches them. CRI bind-mounts host files
 * and folders (its /etc/hosts, /etc/hostname, /etc/resolv.conf of the sandbox, hostPath and emptyDir
 * volumes): each is shared through the sandbox's virtio-fs folder under {@code <cid>/mounts/<n>-<name>}
 * and the spec's source points at the guest path. The pod's /dev/shm (a bind of the sandbox's host
 * tmpfs) becomes the pod's tmpfs in the guest instead ({@link GuestContract#POD_SHM}), so that shared
 * memory stays in guest RAM and is one per pod. Kernel file systems and /dev paths are the guest's own
 * and are left alone.
 */
public final class HostMounts {
    private HostMounts() {}

    /**
     * One host path to bind into the shared folder.
     *
     * @param source    the host path
     * @param name      its name under {@code <shared>/<cid>/mounts/}
     * @param recursive rbind rather than bind
     * @param readOnly  the share itself is read-only (the guest's bind is too, from the spec's options)
     */
    public record Share(String source, String destination, String name, boolean recursive, boolean readOnly) {}

    /** Rewrites the spec's host-path mounts to guest paths; returns what must be bound into the shared folder. */
    public static List<Share> plan(String cid, Spec.Builder spec) {
        List<Share> shares = new ArrayList<>();
        for (Mount.Builder m : spec.getMountsBuilderList()) {
            List<String> opts = m.getOptionsList();
            boolean bind = m.getType().equals("bind") || opts.contains("bind") || opts.contains("rbind");
            String src = m.getSource();
            if (!bind || !src.startsWith("/")) {
                continue;
            }
            if (m.getDestination().equals("/dev/shm") && !src.equals("/dev/shm")) {
                m.setSource(GuestContract.POD_SHM);
                continue;
            }
            if (src.equals("/dev") || src.startsWith("/dev/") || src.equals("/proc") || src.startsWith("/proc/")
                    || src.equals("/sys") || src.startsWith("/sys/")) {
                continue;
            }
            String base = src.equals("/") ? "root" : src.substring(src.lastIndexOf('/', src.length() - 2) + 1)
                    .replace("/", "");
            String name = shares.size() + "-" + base;
            shares.add(new Share(src, m.getDestination(), name, opts.contains("rbind"), opts.contains("ro")));
            m.setSource(GuestContract.containerMount(cid, name));
        }
        return shares;
    }
}
