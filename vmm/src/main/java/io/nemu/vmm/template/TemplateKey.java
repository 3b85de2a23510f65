package io.nemu.vmm.template;

import io.nemu.vmm.VmConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * What a template was made from: the guest image, the machine profile, vCPUs, memory, and a digest of everything
 * else in the VM's configuration that shapes the saved guest (kernel words, files and their sizes and times,
 * QEMU binary, accelerator, agent channel, sandbox options, the number of NICs). A clone may only start from a
 * template of the same key: a changed image or configuration gives another key, so the old template is stale.
 *
 * @param imageId   the guest image's identity (its verified hash), given by the caller
 * @param profile   machine profile name
 * @param nics      how many NICs (templates of other NIC counts serve other pods: they are not stale)
 * @param configDigest hex SHA-256 of the rest (see {@link #describe})
 */
public record TemplateKey(String imageId, String profile, int vcpus, int memoryMib, int nics, String configDigest) {

    public TemplateKey {
        if (imageId == null || imageId.isBlank() || !imageId.matches("[A-Za-z0-9._:-]+")) {
            throw new IllegalArgumentException("template key: image id must be a non-empty word, got '" + imageId + "'");
        }
    }

    /** The key of VMs configured as {@code c} (its run and shared folders do not count) on image {@code imageId}. */
    public static TemplateKey of(VmConfig c, String imageId) throws IOException {
        return new TemplateKey(imageId, c.profile().name(), c.vcpus(), c.memoryMib(), c.netDevices().size(),
                sha256(describe(c)));
    }

    /** The configuration as lines, one setting each; the digest is over these. */
    public static List<String> describe(VmConfig c) throws IOException {
        List<String> d = new ArrayList<>();
        d.add("kernel " + file(c.kernel()));
        d.add("initrd " + file(c.initrd()));
        d.add("rootImage " + file(c.rootImage()) + " " + c.rootDevice());
        d.add("qemu " + file(c.qemuBinary()));
        d.add("kernelArgs " + String.join(" ", c.kernelArgs()));
        d.add("hotplug " + c.maxVcpus() + " " + c.memorySlots() + " " + c.maxMemoryMib() + " " + c.pciRootPorts());
        d.add("accelerator " + c.accelerator() + " tb " + c.tcgTbSizeMib());
        d.add("agent " + c.agentTransport() + " " + c.agentPort());
        d.add("shared " + (c.sharedDir() != null) + " " + c.sharedTag());
        d.add("freePageReporting " + c.freePageReporting());
        d.add("sandbox " + c.seccompSandbox());
        // How many NICs, not which taps or MACs: a clone puts the pod's taps behind the template's devices.
        d.add("nics " + c.netDevices().size() + " " + c.netDevices().stream().map(n -> n.id()).toList());
        return d;
    }

    private static String file(Path p) throws IOException {
        if (p == null) {
            return "-";
        }
        Path real = p.toRealPath();
        return real + " " + Files.size(real) + " " + Files.getLastModifiedTime(real).toMillis();
    }

    private static String sha256(List<String> lines) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(md.digest(String.join("\n", lines).getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Templates of one shape (profile, vCPUs, memory, NICs) share this prefix; the digest tells versions apart. */
    public String shape() {
        return profile + "-" + vcpus + "c-" + memoryMib + "m-" + nics + "n";
    }

    /** The template's folder name: the shape, then the first 16 hex digits of image and configuration. */
    public String name() {
        return shape() + "-" + sha256(List.of(imageId, configDigest)).substring(0, 16);
    }
}
