package io.nemu.shim.sandbox;

import com.google.protobuf.ByteString;
import io.nemu.contract.GuestContract;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.KernelModule;
import io.nemu.proto.kata.Storage;
import io.nemu.shim.agent.AgentClient;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.VmException;
import io.nemu.vmm.template.Template;
import io.nemu.vmm.template.TemplateBuilder;
import io.nemu.vmm.template.TemplateKey;
import io.nemu.vmm.template.TemplateStore;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A sandbox started from a template ({@code [factory] enable_template}): which sandboxes can be, the template
 * (made on first use), and what a clone must get after its restore to be its own: fresh entropy, the host's clock,
 * the virtio-9p shared folder with its drivers. Its hostname comes with CreateSandbox as for any sandbox.
 */
final class SandboxTemplate {
    private static final Logger log = LoggerFactory.getLogger(SandboxTemplate.class);
    /** What Kata hands a clone's RNG. */
    static final int RESEED_BYTES = 512;
    /** The guest's 9p client and its virtio transport: the template never loads them (a mounted share blocks saving). */
    static final List<String> NINE_P_MODULES = List.of("9pnet_virtio", "9p");
    /** How long a template's guest may take to boot to a serving agent (one boot, under TCG on a loaded host). */
    static final Duration TEMPLATE_READY = Duration.ofSeconds(240);

    private SandboxTemplate() {
    }

    /** The template store of this configuration: {@code template_path}, else the run root's {@code templates}. */
    static TemplateStore store(RuntimeConfig cfg, SandboxPaths paths) {
        Path p = cfg.factory().templatePath();
        return new TemplateStore(p != null ? p : paths.root().resolve("templates"));
    }

    /**
     * The clone config of {@code templated} (the sandbox's VM as it would boot with the template's device set), its
     * template built first if missing or stale; empty, with the reason logged, when the sandbox must boot instead.
     * {@code tbSizeMib} > 0 bounds the clone's TCG code cache (the template's key keeps the configured one).
     */
    static Optional<VmConfig> cloneOf(String sandboxId, TemplateStore store, VmConfig templated, String imageId,
            int tbSizeMib) {
        try {
            TemplateKey key = TemplateKey.of(templated, imageId);
            // A current template is used without its lock (only complete ones are found).
            Optional<Template> found = store.find(key);
            if (found.isEmpty()) {
                log.info("sandbox {}: {}; building template {} (this sandbox waits for it)", sandboxId,
                        store.whyMissing(key), key.name());
            }
            Template t = found.isPresent() ? found.get() : obtain(store, key, templated);
            log.info("sandbox {}: cloning template {}", sandboxId, t.dir());
            VmConfig clone = t.cloneConfig(templated);
            return Optional.of(tbSizeMib > 0 ? clone.withTcgTbSize(tbSizeMib) : clone);
        } catch (IOException | VmException | IllegalArgumentException e) {
            // IllegalArgumentException: a path QEMU's options cannot take (a comma).
            log.warn("sandbox {} boots normally: no template ({})", sandboxId, e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * The template of {@code templated} (keyed {@code key}): the stored one if current, else its guest booted to a
     * ready agent and saved now, under the store's lock, so that concurrent starts and {@code nemu template build}
     * make it once.
     */
    static Template obtain(TemplateStore store, TemplateKey key, VmConfig templated) throws IOException {
        return store.obtain(key, TemplateBuilder.of(templated, SandboxTemplate::awaitAgent));
    }

    /** Why a sandbox cannot be a clone, or null if it can. */
    static String unclonable(RuntimeConfig.Hypervisor h) {
        if (h.sharedFs() != RuntimeConfig.SharedFs.VIRTIO_FS) {
            return "shared_fs = none";
        }
        if (h.enableVirtioMem()) {
            return "enable_virtio_mem = true (a clone's RAM is private; its virtio-mem device is not tried)";
        }
        return null;
    }

    /** The template is ready once its agent answers Health over the serial channel. */
    static void awaitAgent(Vm vm) throws IOException {
        long deadline = System.nanoTime() + TEMPLATE_READY.toNanos();
        try (TtrpcClient c = TtrpcClient.adopt(vm.agentChannel().orElseThrow().dial(TEMPLATE_READY))) {
            long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
            HealthCheckResponse r = HealthGrpc.newBlockingStub(c).withDeadlineAfter(left, TimeUnit.MILLISECONDS)
                    .check(CheckRequest.getDefaultInstance());
            if (r.getStatus() != HealthCheckResponse.ServingStatus.SERVING) {
                throw new IOException("the template's agent answered " + r.getStatus());
            }
        } catch (io.grpc.StatusRuntimeException e) {
            throw new IOException("the template's agent did not answer: " + e.getStatus(), e);
        }
    }

    /** A clone's own entropy and the host's time, before anything else runs in it. */
    static void refresh(String sandboxId, AgentClient agent) {
        byte[] seed = new byte[RESEED_BYTES];
        new SecureRandom().nextBytes(seed);
        agent.reseedRandomDev(ByteString.copyFrom(seed));
        Instant now = Instant.now();
        agent.setGuestDateTime(now.getEpochSecond(), now.getNano() / 1000);
        log.info("sandbox {}: clone reseeded ({} bytes) and its clock set", sandboxId, RESEED_BYTES);
    }

    /** The pod's shared folder over virtio-9p, mounted where virtio-fs would be. */
    static Storage guestStorage() {
        return Storage.newBuilder().setDriver("9p").setSource(GuestContract.SHARED_FS_TAG).setFstype("9p")
                .setMountPoint(GuestContract.SHARED_DIR)
                .addAllOptions(List.of("trans=virtio", "version=9p2000.L", "msize=524288", "cache=mmap", "nodev"))
                .build();
    }

    static List<KernelModule> modules() {
        return NINE_P_MODULES.stream().map(m -> KernelModule.newBuilder().setName(m).build()).toList();
    }
}
