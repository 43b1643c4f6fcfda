package android.content.pm;

/** Stand-in for android.content.pm.ProviderInfo. */
public final class ProviderInfo {
}
