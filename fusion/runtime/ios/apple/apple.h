/*
 * apple.h: the Apple declarations the glue uses. No SDK reaches this
 * machine, so the few prototypes, types and constants are declared here from
 * Apple's public headers (objc/runtime.h, objc/message.h, CoreFoundation,
 * Security, dispatch, dyld, sysctl); the sdk/ stubs export exactly these symbols.
 * Everything else (NSURLSession, NSURLCredential, NSBundle …) is reached by
 * name through the Objective-C runtime, so no class is bound at link time.
 */
#ifndef TF_APPLE_H
#define TF_APPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- libc / libSystem -------------------------------------------------- */
typedef long ssize_t;
typedef int pid_t;
void *malloc(size_t);
void *calloc(size_t, size_t);
void free(void *);
int open(const char *, int, ...);
ssize_t read(int, void *, size_t);
int close(int);
long lseek(int, long, int);
void *mmap(void *, size_t, int, int, int, long);
int munmap(void *, size_t);
#define SEEK_END 2
#define PROT_READ 1
#define MAP_PRIVATE 2
#define MAP_FAILED ((void *)-1)
int access(const char *, int);
char *getenv(const char *);
pid_t getpid(void);
pid_t fork(void);
void exit(int) __attribute__((noreturn));
void _exit(int) __attribute__((noreturn));
int unlink(const char *);
pid_t waitpid(pid_t, int *, int);
long time(long *);
int sysctlbyname(const char *, void *, size_t *, void *, size_t);
void arc4random_buf(void *, size_t);
int sysctl(int *, unsigned, void *, size_t *, void *, size_t);
#define O_RDONLY 0
#define O_WRONLY 1
#define O_CREAT 0x200
#define F_OK 0

typedef struct {
	const char *dli_fname;
	void *dli_fbase;
	const char *dli_sname;
	void *dli_saddr;
} Dl_info;
int dladdr(const void *, Dl_info *);
#define RTLD_LAZY 0x1
void *dlopen(const char *, int);
uint32_t _dyld_image_count(void);
const char *_dyld_get_image_name(uint32_t);
const void *_dyld_get_image_header(uint32_t);

/* sysctl KERN_PROC_PID: struct kinfo_proc is 648 bytes on arm64; p_flag is
 * kp_proc.p_flag at offset 32 (sys/sysctl.h, sys/proc.h). */
#define CTL_KERN 1
#define KERN_PROC 14
#define KERN_PROC_PID 1
#define P_TRACED 0x00000800
#define KINFO_PROC_SIZE 648
#define KINFO_P_FLAG_OFFSET 32

/* dispatch (function variants: no blocks needed to queue work) */
typedef struct dispatch_queue_s *dispatch_queue_t;
typedef struct dispatch_semaphore_s *dispatch_semaphore_t;
typedef uint64_t dispatch_time_t;
dispatch_queue_t dispatch_get_global_queue(long, unsigned long);
void dispatch_async_f(dispatch_queue_t, void *, void (*)(void *));
void dispatch_after_f(dispatch_time_t, dispatch_queue_t, void *, void (*)(void *));
dispatch_time_t dispatch_time(dispatch_time_t, int64_t);
dispatch_semaphore_t dispatch_semaphore_create(long);
long dispatch_semaphore_signal(dispatch_semaphore_t);
long dispatch_semaphore_wait(dispatch_semaphore_t, dispatch_time_t);
#define DISPATCH_TIME_NOW 0ull
#define DISPATCH_QUEUE_PRIORITY_BACKGROUND (-32768)
#define DISPATCH_QUEUE_PRIORITY_DEFAULT 0
#define NSEC_PER_MSEC 1000000ll

typedef struct { uint32_t opaque; } os_unfair_lock;
void os_unfair_lock_lock(os_unfair_lock *);
void os_unfair_lock_unlock(os_unfair_lock *);

/* Mach-O (mach-o/loader.h): the header of a loaded image, for its cputype. */
struct tf_mach_header_64 {
	uint32_t magic, cputype, cpusubtype, filetype, ncmds, sizeofcmds, flags, reserved;
};

/* --- Objective-C runtime (libobjc) ------------------------------------ */
typedef struct objc_object *id;
typedef struct objc_class *Class;
typedef struct objc_selector *SEL;
typedef struct objc_method *Method;
typedef void (*IMP)(void);
typedef long NSInteger;
typedef unsigned long NSUInteger;
typedef signed char BOOL;
#define nil ((id)0)
id objc_getClass(const char *);
Class objc_allocateClassPair(Class, const char *, size_t);
void objc_registerClassPair(Class);
Class object_getClass(id);
Class class_getSuperclass(Class);
SEL sel_registerName(const char *);
Method class_getInstanceMethod(Class, SEL);
bool class_addMethod(Class, SEL, IMP, const char *);
IMP class_replaceMethod(Class, SEL, IMP, const char *);
IMP method_getImplementation(Method);
IMP method_setImplementation(Method, IMP);
const char *method_getTypeEncoding(Method);
void objc_msgSend(void);
/* What @autoreleasepool compiles to: the constructor runs before main and
 * the checks on a bare dispatch thread, so they push their own pool. */
void *objc_autoreleasePoolPush(void);
void objc_autoreleasePoolPop(void *);

/* Typed objc_msgSend: every call site casts to its exact signature (arm64
 * passes variadic arguments differently, so the cast is required). */
#define MSG(ret, ...) ((ret (*)(id, SEL, ##__VA_ARGS__))objc_msgSend)
#define SEL_(s) sel_registerName(s)
#define CLS(s) objc_getClass(s)

/* A block as the ABI lays it out (Block-ABI-Apple): calling one needs no
 * runtime, only its invoke pointer. */
struct tf_block {
	void *isa;
	int flags, reserved;
	void *invoke;
};
void *_Block_copy(const void *);
void _Block_release(const void *);

/* --- CoreFoundation ---------------------------------------------------- */
typedef const void *CFTypeRef;
typedef const struct __CFString *CFStringRef;
typedef const struct __CFData *CFDataRef;
typedef const struct __CFDictionary *CFDictionaryRef;
typedef const struct __CFArray *CFArrayRef;
typedef const struct __CFAllocator *CFAllocatorRef;
typedef const struct __CFBoolean *CFBooleanRef;
typedef struct __CFNotificationCenter *CFNotificationCenterRef;
typedef const struct __CFBundle *CFBundleRef;
typedef long CFIndex;
typedef int32_t OSStatus;
typedef struct { CFIndex version; void *retain, *release, *copyDescription, *equal, *hash; } CFDictionaryKeyCallBacks;
typedef struct { CFIndex version; void *retain, *release, *copyDescription, *equal; } CFDictionaryValueCallBacks;
typedef struct { CFIndex version; void *retain, *release, *copyDescription, *equal; } CFArrayCallBacks;
extern const CFDictionaryKeyCallBacks kCFTypeDictionaryKeyCallBacks;
extern const CFDictionaryValueCallBacks kCFTypeDictionaryValueCallBacks;
extern const CFArrayCallBacks kCFTypeArrayCallBacks;
extern const CFBooleanRef kCFBooleanTrue;
#define kCFStringEncodingUTF8 0x08000100u
CFStringRef CFStringCreateWithCString(CFAllocatorRef, const char *, uint32_t);
bool CFStringGetCString(CFStringRef, char *, CFIndex, uint32_t);
CFDataRef CFDataCreate(CFAllocatorRef, const uint8_t *, CFIndex);
const uint8_t *CFDataGetBytePtr(CFDataRef);
CFIndex CFDataGetLength(CFDataRef);
CFDictionaryRef CFDictionaryCreate(CFAllocatorRef, const void **, const void **, CFIndex,
				   const CFDictionaryKeyCallBacks *, const CFDictionaryValueCallBacks *);
CFArrayRef CFArrayCreate(CFAllocatorRef, const void **, CFIndex, const CFArrayCallBacks *);
void CFRelease(CFTypeRef);
CFBundleRef CFBundleGetMainBundle(void);
CFStringRef CFBundleGetIdentifier(CFBundleRef);
CFTypeRef CFBundleGetValueForInfoDictionaryKey(CFBundleRef, CFStringRef);
CFNotificationCenterRef CFNotificationCenterGetLocalCenter(void);
void CFNotificationCenterPostNotification(CFNotificationCenterRef, CFStringRef, const void *, CFDictionaryRef, bool);
typedef const struct __CFNumber *CFNumberRef;
#define kCFNumberIntType 9
CFNumberRef CFNumberCreate(CFAllocatorRef, CFIndex, const void *);
#define CFSTR(s) ((CFStringRef)__builtin___CFStringMakeConstantString("" s ""))
void NSLog(CFStringRef, ...); /* Foundation */

/* --- Security ---------------------------------------------------------- */
typedef struct __SecCertificate *SecCertificateRef;
typedef struct __SecKey *SecKeyRef;
typedef struct __SecIdentity *SecIdentityRef;
typedef struct __SecTrust *SecTrustRef;
typedef struct __CFError *CFErrorRef;
extern const CFStringRef kSecClass, kSecClassKey, kSecClassCertificate, kSecClassIdentity;
extern const CFStringRef kSecValueRef, kSecReturnRef, kSecAttrLabel, kSecAttrKeyType, kSecAttrKeyClass;
extern const CFStringRef kSecAttrKeyTypeRSA, kSecAttrKeyTypeECSECPrimeRandom, kSecAttrKeyClassPrivate;
extern const CFStringRef kSecAttrAccessible, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly;
SecCertificateRef SecCertificateCreateWithData(CFAllocatorRef, CFDataRef);
CFDataRef SecCertificateCopyData(SecCertificateRef);
OSStatus SecIdentityCopyCertificate(SecIdentityRef, SecCertificateRef *);
/* The Secure Enclave identity key (SecKey.h, SecItem.h, SecAccessControl.h). */
typedef struct __SecAccessControl *SecAccessControlRef;
extern const CFStringRef kSecAttrApplicationTag, kSecAttrKeySizeInBits, kSecAttrTokenID, kSecAttrTokenIDSecureEnclave;
extern const CFStringRef kSecAttrIsPermanent, kSecAttrAccessControl, kSecPrivateKeyAttrs;
#define kSecAccessControlPrivateKeyUsage (1ul << 30)
SecAccessControlRef SecAccessControlCreateWithFlags(CFAllocatorRef, CFTypeRef, unsigned long, CFErrorRef *);
SecKeyRef SecKeyCreateRandomKey(CFDictionaryRef, CFErrorRef *);
SecKeyRef SecKeyCopyPublicKey(SecKeyRef);
CFDataRef SecKeyCopyExternalRepresentation(SecKeyRef, CFErrorRef *);
SecKeyRef SecKeyCreateWithData(CFDataRef, CFDictionaryRef, CFErrorRef *);
OSStatus SecItemAdd(CFDictionaryRef, CFTypeRef *);
OSStatus SecItemDelete(CFDictionaryRef);
OSStatus SecItemCopyMatching(CFDictionaryRef, CFTypeRef *);
OSStatus SecTrustSetAnchorCertificates(SecTrustRef, CFArrayRef);
OSStatus SecTrustSetAnchorCertificatesOnly(SecTrustRef, bool);
bool SecTrustEvaluateWithError(SecTrustRef, CFErrorRef *);
#define errSecSuccess 0
#define errSecDuplicateItem (-25299)

/* NSURLSessionAuthChallengeDisposition (NSURLSession.h) */
enum {
	TF_UseCredential = 0,
	TF_PerformDefaultHandling = 1,
	TF_CancelAuthenticationChallenge = 2,
	TF_RejectProtectionSpace = 3,
};
#endif
