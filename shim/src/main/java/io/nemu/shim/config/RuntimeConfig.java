package io.nemu.shim.config;

import io.nemu.vmm.Accelerator;
import io.nemu.vmm.CacheMode;
import io.nemu.vmm.MachineProfile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The values of one {@code configuration.toml} the shim uses, validated. Kata's section and key names;
 * see {@link ConfigLoader} for the keys.
 *
 * @param source where it was read from (for logs)
 */
public record RuntimeConfig(Path source, Hypervisor hypervisor, Agent agent, Runtime runtime, Factory factory) {

    /**
     * {@code [factory]} (Kata's keys). {@code enableTemplate}: a sandbox starts as a copy-on-write clone of a template
     * VM booted once to a ready agent (made on first use, kept in {@code templatePath}, rebuilt when the image or
     * configuration changes); a sandbox that cannot be cloned boots as usual. {@code templatePath}: null for the run
     * root's {@code templates} folder. {@code cloneTcgTbSizeMib} ({@code clone_tcg_tb_size}, ours): TCG's code cache
     * bound of a clone (private to each clone and full soon after its start: most of a clone's own cost); 0 =
     * {@code tcg_tb_size}.
     * Not part of the template's key: one template serves clones of any bound.
     */
    public record Factory(boolean enableTemplate, Path templatePath, int cloneTcgTbSizeMib) {
    }

    /**
     * {@code [hypervisor.qemu]}. Exactly one of {@code initrd} (a whole-root initramfs) and {@code image} (Kata's
     * key: the read-only root image {@code root.img}, checked against its manifest and booted with the
     * {@code root-initrd.img} beside it) is set, the other is null. {@code reclaimGuestFreedMemory} (Kata's {@code reclaim_guest_freed_memory},
     * default on here): a virtio-balloon with free page reporting, so the host gets back RAM the guest freed.
     * {@code seccompSandbox} (Kata's {@code seccompsandbox}): QEMU's {@code -sandbox} options, by default
     * {@code QemuFeatures.SANDBOX}; null when the file turned the sandbox off ({@code seccompsandbox = ""}).
     * {@code tcgTbSizeMib} ({@code tcg_tb_size}, ours: Kata has none): TCG's code cache bound, 0 = QEMU's own.
     * {@code disableImageNvdimm} (Kata's {@code disable_image_nvdimm}): the root image on a virtio-blk disk even
     * where the machine could map it as pmem with DAX (virt-hotplug).
     * {@code enableVirtioMem} (Kata's {@code enable_virtio_mem}): RAM above {@code default_memory} is hot-added and
     * given back through one virtio-mem device instead of DIMMs, which cannot be removed (virt-hotplug).
     */
    public record Hypervisor(
            Path path,
            Path kernel,
            Path initrd,
            Path image,
            MachineProfile machineType,
            List<String> kernelParams,
            int defaultVcpus,
            int defaultMaxVcpus,
            int defaultMemoryMib,
            int memorySlots,
            int defaultMaxMemoryMib,
            int pcieRootPorts,
            SharedFs sharedFs,
            Path virtioFsDaemon,
            CacheMode virtioFsCache,
            Accelerator accelerator,
            boolean enableDebug,
            List<java.util.regex.Pattern> enableAnnotations,
            boolean reclaimGuestFreedMemory,
            String seccompSandbox,
            int tcgTbSizeMib,
            boolean disableImageNvdimm,
            boolean enableVirtioMem) {

        /**
         * Whether the pod annotation {@code io.katacontainers.config.hypervisor.<name>} may change this
         * value: Kata's {@code enable_annotations}, regular expressions matched against the whole name.
         */
        public boolean annotationEnabled(String name) {
            return enableAnnotations.stream().anyMatch(p -> p.matcher(name).matches());
        }
    }

    /** {@code shared_fs}: how container root file systems reach the guest. */
    public enum SharedFs {
        VIRTIO_FS("virtio-fs"), NONE("none");

        private final String key;

        SharedFs(String key) {
            this.key = key;
        }

        public String key() {
            return key;
        }
    }

    /**
     * {@code [agent.kata]}. After boot the agent is asked for its health every {@code healthCheckInterval};
     * once no check has succeeded for {@code healthCheckTimeout} the sandbox is declared dead.
     * {@code enableDebug} (Kata's {@code enable_debug}): the agent's debug logs, forwarded into the shim's log;
     * {@code debugConsoleEnabled} (Kata's {@code debug_console_enabled}): the guest serves {@code nemu exec}.
     */
    public record Agent(Duration dialTimeout, Duration healthCheckInterval, Duration healthCheckTimeout,
                        boolean enableDebug, boolean debugConsoleEnabled) {
    }

    /**
     * {@code [runtime]}. Kata keys with one supported value are checked by {@link ConfigLoader} and not kept:
     * {@code disable_new_netns = false}; {@code internetworking_model} is tcfilter. {@code sandboxCgroupOnly}
     * (Kata's {@code sandbox_cgroup_only}, default true here): the shim daemon, QEMU and virtiofsd run in the
     * cgroup the sandbox's spec names ({@code linux.cgroupsPath}), so the pod's cgroup bounds the whole VM.
     */
    public record Runtime(boolean enableDebug, String internetworkingModel, boolean sandboxCgroupOnly) {
    }

    /** Whether a debug switch is on: {@code [runtime]}'s (all debug logs) or {@code [hypervisor.qemu]}'s (the VM's). */
    public boolean debug() {
        return runtime.enableDebug() || hypervisor.enableDebug();
    }
}
