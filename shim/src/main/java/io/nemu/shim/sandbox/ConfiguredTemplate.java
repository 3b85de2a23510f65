package io.nemu.shim.sandbox;

import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.network.Endpoint;
import io.nemu.shim.network.PodNetwork;
import io.nemu.vmm.NetDevice;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.template.Template;
import io.nemu.vmm.template.TemplateKey;
import io.nemu.vmm.template.TemplateNics;
import io.nemu.vmm.template.TemplateStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The template a sandbox of the configured default size (no sizing annotations) with a given number of NICs clones,
 * for the operator ({@code nemu template}): its VM config comes from {@link SandboxVmConfig} as a pod's does, its
 * NICs are stand-ins of the pod's (same device ids; the build puts throwaway taps behind them), so its key is the
 * one such a pod looks up.
 */
public final class ConfiguredTemplate {
    /** The sandbox name its (never made) run folders are named after: the build uses folders of its own. */
    private static final String NO_SANDBOX = "template";

    private final TemplateStore store;
    private final VmConfig base;
    private final String imageId;

    private ConfiguredTemplate(TemplateStore store, VmConfig base, String imageId) {
        this.store = store;
        this.base = base;
        this.imageId = imageId;
    }

    /** Why sandboxes of {@code cfg} cannot be clones, or null if they can. */
    public static String unusable(RuntimeConfig cfg) {
        return SandboxTemplate.unclonable(cfg.hypervisor());
    }

    /**
     * The configuration's templates, {@code runRoot} being the shim's (its verified-images cache, and the store
     * unless {@code template_path} says). Fails naming the file when the kernel or guest image cannot be used.
     */
    public static ConfiguredTemplate of(RuntimeConfig cfg, Path runRoot) throws IOException {
        SandboxPaths paths = new SandboxPaths(runRoot, NO_SANDBOX);
        PodSizing size;
        try {
            size = PodSizing.of(cfg.hypervisor(), Map.of());
        } catch (PodSizing.BadAnnotation e) {
            throw new IllegalStateException("no annotations, yet: " + e.getMessage(), e);
        }
        SandboxVmConfig vm = SandboxVmConfig.of(cfg, paths, size);
        return new ConfiguredTemplate(store(cfg, runRoot), vm.builder().build(), vm.imageId());
    }

    public TemplateStore store() {
        return store;
    }

    /** The store of {@code cfg}'s templates (no key needed: for removing them). */
    public static TemplateStore store(RuntimeConfig cfg, Path runRoot) {
        return SandboxTemplate.store(cfg, new SandboxPaths(runRoot, NO_SANDBOX));
    }

    /** The VM of a pod with {@code nics} NICs as its template is keyed and booted. */
    VmConfig templated(int nics) {
        VmConfig.Builder b = base.toBuilder();
        for (int i = 0; i < nics; i++) {
            b.netDevice(new NetDevice(PodNetwork.nicId(i), Endpoint.tapName(i), TemplateNics.mac(i)));
        }
        return new SandboxVmConfig(b, imageId).templated();
    }

    public TemplateKey key(int nics) throws IOException {
        return TemplateKey.of(templated(nics), imageId);
    }

    /** The settings the key of {@code nics} NICs is made from, to compare with a stored template's. */
    public List<String> settings(int nics) throws IOException {
        return TemplateKey.describe(templated(nics));
    }

    /**
     * The template of {@code nics} NICs, built (its guest booted to a ready agent and saved) unless it is there;
     * under the store's lock, so a pod starting meanwhile waits for this build instead of making its own.
     */
    public Template obtain(int nics) throws IOException {
        VmConfig t = templated(nics);
        return SandboxTemplate.obtain(store, TemplateKey.of(t, imageId), t);
    }
}
