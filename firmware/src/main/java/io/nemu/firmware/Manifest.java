package io.nemu.firmware;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What a guest image was built from and what it holds: {@code manifest.json} in the image directory.
 * It carries no timestamps, so equal inputs give an equal manifest.
 *
 * @param formatVersion  layout version of this file
 * @param kernelRelease  {@code uname -r} of the guest kernel, e.g. {@code 6.1.0-56-amd64}
 * @param recipe         sha256 over everything the builder adds itself (/init, settings); a change rebuilds
 * @param compression    compression of the initramfs ({@code gzip}, {@code zstd}, {@code lz4})
 * @param inputs         the packages and files the image was made from
 * @param modules        kernel modules in the initramfs, in load order (paths below /lib/modules/REL)
 * @param builtinModules requested modules that the kernel has built in
 * @param outputs        the files of the image
 */
@JsonPropertyOrder({"formatVersion", "kernelRelease", "recipe", "compression", "inputs", "modules",
        "builtinModules", "outputs"})
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Manifest(int formatVersion, String kernelRelease, String recipe, String compression,
                       List<Input> inputs, List<String> modules, List<String> builtinModules,
                       List<Output> outputs) {

    public static final String FILE_NAME = "manifest.json";
    public static final int FORMAT_VERSION = 1;

    /** A Debian package ({@code kind = "deb"}) or a local file such as the agent jar ({@code kind = "file"}). */
    @JsonPropertyOrder({"kind", "name", "version", "sha256"})
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Input(String kind, String name, String version, String sha256) {
        public Input {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(sha256, "sha256");
        }
    }

    @JsonPropertyOrder({"name", "size", "sha256"})
    public record Output(String name, long size, String sha256) {
        public Output {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(sha256, "sha256");
        }
    }

    public Manifest {
        inputs = List.copyOf(inputs == null ? List.of() : inputs);
        modules = List.copyOf(modules == null ? List.of() : modules);
        builtinModules = List.copyOf(builtinModules == null ? List.of() : builtinModules);
        outputs = List.copyOf(outputs == null ? List.of() : outputs);
    }

    public Optional<Output> output(String name) {
        return outputs.stream().filter(o -> o.name().equals(name)).findFirst();
    }

    public Optional<Input> input(String name) {
        return inputs.stream().filter(i -> i.name().equals(name)).findFirst();
    }

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public String toJson() {
        try {
            return JSON.writeValueAsString(this) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("manifest does not serialize", e);
        }
    }

    public static Manifest fromJson(String json) throws FirmwareException {
        try {
            Manifest m = JSON.readValue(json, Manifest.class);
            if (m.formatVersion() != FORMAT_VERSION) {
                throw new FirmwareException("manifest format version " + m.formatVersion()
                        + " is not supported (expected " + FORMAT_VERSION + ")");
            }
            if (m.kernelRelease() == null || m.kernelRelease().isBlank()) {
                throw new FirmwareException("manifest has no kernelRelease");
            }
            return m;
        } catch (JsonProcessingException e) {
            throw new FirmwareException("manifest is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Reads {@code dir/manifest.json}. */
    public static Manifest read(Path dir) throws FirmwareException {
        Path file = dir.resolve(FILE_NAME);
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new FirmwareException("no guest image in " + dir + ": " + file + " is missing"
                    + " (build one with `nemu image build`)", e);
        } catch (IOException e) {
            throw new FirmwareException("cannot read " + file + ": " + e, e);
        }
        try {
            return fromJson(text);
        } catch (FirmwareException e) {
            throw new FirmwareException(file + ": " + e.getMessage(), e);
        }
    }

    /** Writes {@code dir/manifest.json} atomically. */
    public void write(Path dir) throws IOException {
        Path tmp = dir.resolve(FILE_NAME + ".tmp");
        Files.writeString(tmp, toJson(), StandardCharsets.UTF_8);
        Files.move(tmp, dir.resolve(FILE_NAME), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
}
