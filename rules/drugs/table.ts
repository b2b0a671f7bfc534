import type { ControlledSchedule, DoseForm, DrugClass } from './vocabulary.ts';

/**
 * One ingredient the classifier knows. `rxnorm` holds RxNorm ingredient (IN) codes; `aliases` are generic and brand
 * names matched case-insensitively on word boundaries in the product text. `byForm` adds classes that depend on the
 * route (fluticasone is an asthma inhaler when inhaled, an allergy spray when nasal); `assumeForm` is the route used
 * when the text does not say (albuterol is almost always inhaled). `schedule` is the federal DEA schedule.
 */
export interface IngredientEntry {
  readonly name: string;
  readonly rxnorm: readonly string[];
  readonly aliases: readonly string[];
  readonly classes: readonly DrugClass[];
  readonly byForm?: Partial<Record<DoseForm, readonly DrugClass[]>>;
  readonly assumeForm?: DoseForm;
  readonly schedule?: ControlledSchedule;
}

const inhaled = (...classes: DrugClass[]): Partial<Record<DoseForm, readonly DrugClass[]>> => ({
  inhalation: ['asthma_inhaler', ...classes],
});

/**
 * The ingredient table. Codes are RxNorm IN concepts; where a code was not certain it was left out and the ingredient is
 * matched by name only (a wrong code is worse than none). Schedules are federal (21 CFR 1308); state schedules
 * (gabapentin in some states) are not modelled.
 */
export const INGREDIENTS: readonly IngredientEntry[] = [
  // Antacid / reflux (PPI-1)
  { name: 'omeprazole', rxnorm: ['7646'], aliases: ['omeprazole', 'prilosec'], classes: ['proton_pump_inhibitor'] },
  { name: 'esomeprazole', rxnorm: ['283742'], aliases: ['esomeprazole', 'nexium'], classes: ['proton_pump_inhibitor'] },
  {
    name: 'pantoprazole',
    rxnorm: ['40790'],
    aliases: ['pantoprazole', 'protonix'],
    classes: ['proton_pump_inhibitor'],
  },
  {
    name: 'lansoprazole',
    rxnorm: ['17128'],
    aliases: ['lansoprazole', 'prevacid'],
    classes: ['proton_pump_inhibitor'],
  },
  { name: 'rabeprazole', rxnorm: ['114979'], aliases: ['rabeprazole', 'aciphex'], classes: ['proton_pump_inhibitor'] },
  { name: 'dexlansoprazole', rxnorm: [], aliases: ['dexlansoprazole', 'dexilant'], classes: ['proton_pump_inhibitor'] },
  { name: 'famotidine', rxnorm: ['4278'], aliases: ['famotidine', 'pepcid'], classes: ['h2_blocker'] },
  { name: 'ranitidine', rxnorm: ['9143'], aliases: ['ranitidine', 'zantac'], classes: ['h2_blocker'] },
  { name: 'cimetidine', rxnorm: ['2541'], aliases: ['cimetidine', 'tagamet'], classes: ['h2_blocker'] },
  { name: 'nizatidine', rxnorm: [], aliases: ['nizatidine', 'axid'], classes: ['h2_blocker'] },

  // Anticoagulants / antiplatelets (AC-1..3)
  { name: 'warfarin', rxnorm: ['11289'], aliases: ['warfarin', 'coumadin', 'jantoven'], classes: ['anticoagulant'] },
  { name: 'dabigatran', rxnorm: ['1037042'], aliases: ['dabigatran', 'pradaxa'], classes: ['anticoagulant', 'doac'] },
  { name: 'apixaban', rxnorm: ['1364430'], aliases: ['apixaban', 'eliquis'], classes: ['anticoagulant', 'doac'] },
  {
    name: 'rivaroxaban',
    rxnorm: ['1114195'],
    aliases: ['rivaroxaban', 'xarelto'],
    classes: ['anticoagulant', 'doac'],
  },
  { name: 'edoxaban', rxnorm: [], aliases: ['edoxaban', 'savaysa'], classes: ['anticoagulant', 'doac'] },
  { name: 'clopidogrel', rxnorm: ['32968'], aliases: ['clopidogrel', 'plavix'], classes: ['antiplatelet'] },
  { name: 'prasugrel', rxnorm: [], aliases: ['prasugrel', 'effient'], classes: ['antiplatelet'] },
  { name: 'ticagrelor', rxnorm: [], aliases: ['ticagrelor', 'brilinta'], classes: ['antiplatelet'] },

  // Anticonvulsants, bipolar, antipsychotics (NEU-1)
  {
    name: 'valproate',
    rxnorm: ['11118'],
    aliases: ['valproate', 'valproic acid', 'divalproex', 'depakote', 'depakene'],
    classes: ['anticonvulsant', 'mood_stabilizer'],
  },
  {
    name: 'lamotrigine',
    rxnorm: ['28439'],
    aliases: ['lamotrigine', 'lamictal'],
    classes: ['anticonvulsant', 'mood_stabilizer'],
  },
  {
    name: 'carbamazepine',
    rxnorm: ['2002'],
    aliases: ['carbamazepine', 'tegretol', 'equetro'],
    classes: ['anticonvulsant', 'mood_stabilizer'],
  },
  { name: 'phenytoin', rxnorm: ['8183'], aliases: ['phenytoin', 'dilantin'], classes: ['anticonvulsant'] },
  { name: 'levetiracetam', rxnorm: ['114477'], aliases: ['levetiracetam', 'keppra'], classes: ['anticonvulsant'] },
  { name: 'topiramate', rxnorm: ['38404'], aliases: ['topiramate', 'topamax'], classes: ['anticonvulsant'] },
  { name: 'oxcarbazepine', rxnorm: ['32624'], aliases: ['oxcarbazepine', 'trileptal'], classes: ['anticonvulsant'] },
  { name: 'zonisamide', rxnorm: [], aliases: ['zonisamide', 'zonegran'], classes: ['anticonvulsant'] },
  {
    name: 'gabapentin',
    rxnorm: ['25480'],
    aliases: ['gabapentin', 'neurontin', 'gralise'],
    classes: ['anticonvulsant', 'gabapentinoid'],
  },
  {
    name: 'pregabalin',
    rxnorm: ['187832'],
    aliases: ['pregabalin', 'lyrica'],
    classes: ['anticonvulsant', 'gabapentinoid'],
    schedule: 'CV',
  },
  {
    name: 'lacosamide',
    rxnorm: ['623404'],
    aliases: ['lacosamide', 'vimpat'],
    classes: ['anticonvulsant'],
    schedule: 'CV',
  },
  {
    name: 'brivaracetam',
    rxnorm: [],
    aliases: ['brivaracetam', 'briviact'],
    classes: ['anticonvulsant'],
    schedule: 'CV',
  },
  { name: 'cenobamate', rxnorm: [], aliases: ['cenobamate', 'xcopri'], classes: ['anticonvulsant'], schedule: 'CV' },
  {
    name: 'clobazam',
    rxnorm: [],
    aliases: ['clobazam', 'onfi'],
    classes: ['anticonvulsant', 'benzodiazepine'],
    schedule: 'CIV',
  },
  { name: 'lithium', rxnorm: ['6448', '42351'], aliases: ['lithium', 'lithobid'], classes: ['mood_stabilizer'] },
  { name: 'quetiapine', rxnorm: ['51272'], aliases: ['quetiapine', 'seroquel'], classes: ['antipsychotic'] },
  { name: 'olanzapine', rxnorm: ['61381'], aliases: ['olanzapine', 'zyprexa'], classes: ['antipsychotic'] },
  { name: 'risperidone', rxnorm: ['35636'], aliases: ['risperidone', 'risperdal'], classes: ['antipsychotic'] },
  { name: 'aripiprazole', rxnorm: ['89013'], aliases: ['aripiprazole', 'abilify'], classes: ['antipsychotic'] },
  { name: 'ziprasidone', rxnorm: ['115698'], aliases: ['ziprasidone', 'geodon'], classes: ['antipsychotic'] },
  { name: 'haloperidol', rxnorm: ['5093'], aliases: ['haloperidol', 'haldol'], classes: ['antipsychotic'] },
  { name: 'lurasidone', rxnorm: [], aliases: ['lurasidone', 'latuda'], classes: ['antipsychotic'] },
  { name: 'clozapine', rxnorm: ['2626'], aliases: ['clozapine', 'clozaril'], classes: ['antipsychotic'] },

  // Antidepressants (AD-1..3)
  { name: 'sertraline', rxnorm: ['36437'], aliases: ['sertraline', 'zoloft'], classes: ['ssri', 'antidepressant'] },
  { name: 'fluoxetine', rxnorm: ['4493'], aliases: ['fluoxetine', 'prozac'], classes: ['ssri', 'antidepressant'] },
  { name: 'citalopram', rxnorm: ['2556'], aliases: ['citalopram', 'celexa'], classes: ['ssri', 'antidepressant'] },
  {
    name: 'escitalopram',
    rxnorm: ['321988'],
    aliases: ['escitalopram', 'lexapro'],
    classes: ['ssri', 'antidepressant'],
  },
  { name: 'paroxetine', rxnorm: ['32937'], aliases: ['paroxetine', 'paxil'], classes: ['ssri', 'antidepressant'] },
  { name: 'fluvoxamine', rxnorm: ['42355'], aliases: ['fluvoxamine', 'luvox'], classes: ['ssri', 'antidepressant'] },
  { name: 'duloxetine', rxnorm: ['72625'], aliases: ['duloxetine', 'cymbalta'], classes: ['snri', 'antidepressant'] },
  { name: 'venlafaxine', rxnorm: ['39786'], aliases: ['venlafaxine', 'effexor'], classes: ['snri', 'antidepressant'] },
  { name: 'desvenlafaxine', rxnorm: [], aliases: ['desvenlafaxine', 'pristiq'], classes: ['snri', 'antidepressant'] },
  { name: 'mirtazapine', rxnorm: ['15996'], aliases: ['mirtazapine', 'remeron'], classes: ['antidepressant'] },
  { name: 'bupropion', rxnorm: ['42347'], aliases: ['bupropion', 'wellbutrin', 'zyban'], classes: ['antidepressant'] },
  { name: 'trazodone', rxnorm: ['10737'], aliases: ['trazodone', 'desyrel'], classes: ['antidepressant'] },
  {
    name: 'amitriptyline',
    rxnorm: ['704'],
    aliases: ['amitriptyline', 'elavil'],
    classes: ['tricyclic_antidepressant', 'antidepressant'],
  },
  {
    name: 'nortriptyline',
    rxnorm: ['7531'],
    aliases: ['nortriptyline', 'pamelor'],
    classes: ['tricyclic_antidepressant', 'antidepressant'],
  },

  // Herpes antivirals (AV-1)
  { name: 'acyclovir', rxnorm: ['281'], aliases: ['acyclovir', 'aciclovir', 'zovirax'], classes: ['herpes_antiviral'] },
  {
    name: 'valacyclovir',
    rxnorm: ['73645'],
    aliases: ['valacyclovir', 'valaciclovir', 'valtrex'],
    classes: ['herpes_antiviral'],
  },
  { name: 'famciclovir', rxnorm: ['68099'], aliases: ['famciclovir', 'famvir'], classes: ['herpes_antiviral'] },

  // Arthritis, NSAIDs, allopurinol, B12 (ART-1)
  { name: 'ibuprofen', rxnorm: ['5640'], aliases: ['ibuprofen', 'motrin', 'advil'], classes: ['nsaid'] },
  { name: 'naproxen', rxnorm: ['7258'], aliases: ['naproxen', 'naprosyn', 'aleve', 'anaprox'], classes: ['nsaid'] },
  { name: 'meloxicam', rxnorm: ['41493'], aliases: ['meloxicam', 'mobic'], classes: ['nsaid'] },
  { name: 'celecoxib', rxnorm: ['140587'], aliases: ['celecoxib', 'celebrex'], classes: ['nsaid'] },
  { name: 'diclofenac', rxnorm: ['3355'], aliases: ['diclofenac', 'voltaren'], classes: ['nsaid'] },
  { name: 'indomethacin', rxnorm: ['5781'], aliases: ['indomethacin', 'indocin'], classes: ['nsaid'] },
  { name: 'nabumetone', rxnorm: [], aliases: ['nabumetone', 'relafen'], classes: ['nsaid'] },
  { name: 'etodolac', rxnorm: [], aliases: ['etodolac'], classes: ['nsaid'] },
  {
    name: 'allopurinol',
    rxnorm: ['519'],
    aliases: ['allopurinol', 'zyloprim'],
    classes: ['xanthine_oxidase_inhibitor', 'antigout'],
  },
  {
    name: 'febuxostat',
    rxnorm: ['73689'],
    aliases: ['febuxostat', 'uloric'],
    classes: ['xanthine_oxidase_inhibitor', 'antigout'],
  },
  { name: 'colchicine', rxnorm: ['2683'], aliases: ['colchicine', 'colcrys'], classes: ['antigout'] },
  {
    name: 'cyanocobalamin',
    rxnorm: ['11248'],
    aliases: ['cyanocobalamin', 'vitamin b12', 'vitamin b-12', 'b12', 'b-12'],
    classes: ['vitamin_b12'],
  },
  { name: 'methotrexate', rxnorm: ['6851'], aliases: ['methotrexate', 'trexall'], classes: ['dmard'] },
  { name: 'hydroxychloroquine', rxnorm: ['5521'], aliases: ['hydroxychloroquine', 'plaquenil'], classes: ['dmard'] },

  // Asthma inhalers (AS-1, AS-2) and route-dependent steroids (AL-1)
  {
    name: 'albuterol',
    rxnorm: ['435'],
    aliases: ['albuterol', 'salbutamol', 'ventolin', 'proair', 'proventil'],
    classes: [],
    byForm: inhaled('short_acting_beta_agonist'),
    assumeForm: 'inhalation',
  },
  {
    name: 'levalbuterol',
    rxnorm: ['237159'],
    aliases: ['levalbuterol', 'xopenex'],
    classes: [],
    byForm: inhaled('short_acting_beta_agonist'),
    assumeForm: 'inhalation',
  },
  {
    name: 'fluticasone',
    rxnorm: ['41126'],
    aliases: ['fluticasone'],
    classes: [],
    byForm: { ...inhaled('inhaled_corticosteroid'), nasal: ['nasal_corticosteroid'] },
  },
  {
    name: 'budesonide',
    rxnorm: ['19831'],
    aliases: ['budesonide'],
    classes: [],
    byForm: { ...inhaled('inhaled_corticosteroid'), nasal: ['nasal_corticosteroid'] },
  },
  {
    name: 'mometasone',
    rxnorm: ['108118'],
    aliases: ['mometasone'],
    classes: [],
    byForm: { ...inhaled('inhaled_corticosteroid'), nasal: ['nasal_corticosteroid'] },
  },
  {
    name: 'beclomethasone',
    rxnorm: ['1347'],
    aliases: ['beclomethasone', 'beclometasone'],
    classes: [],
    byForm: { ...inhaled('inhaled_corticosteroid'), nasal: ['nasal_corticosteroid'] },
  },
  {
    name: 'ciclesonide',
    rxnorm: [],
    aliases: ['ciclesonide'],
    classes: [],
    byForm: { ...inhaled('inhaled_corticosteroid'), nasal: ['nasal_corticosteroid'] },
  },
  {
    name: 'triamcinolone',
    rxnorm: ['10759'],
    aliases: ['triamcinolone'],
    classes: [],
    byForm: { nasal: ['nasal_corticosteroid'] },
  },
  {
    name: 'salmeterol',
    rxnorm: ['36117'],
    aliases: ['salmeterol', 'serevent'],
    classes: [],
    byForm: inhaled('long_acting_beta_agonist'),
    assumeForm: 'inhalation',
  },
  {
    name: 'formoterol',
    rxnorm: ['25255'],
    aliases: ['formoterol', 'foradil', 'perforomist'],
    classes: [],
    byForm: inhaled('long_acting_beta_agonist'),
    assumeForm: 'inhalation',
  },
  {
    name: 'vilanterol',
    rxnorm: [],
    aliases: ['vilanterol'],
    classes: [],
    byForm: inhaled('long_acting_beta_agonist'),
    assumeForm: 'inhalation',
  },
  {
    name: 'tiotropium',
    rxnorm: ['69120'],
    aliases: ['tiotropium', 'spiriva'],
    classes: [],
    byForm: inhaled('long_acting_muscarinic_antagonist'),
    assumeForm: 'inhalation',
  },
  {
    name: 'ipratropium',
    rxnorm: ['7213'],
    aliases: ['ipratropium', 'atrovent'],
    classes: [],
    byForm: inhaled('short_acting_muscarinic_antagonist'),
  },
  { name: 'montelukast', rxnorm: ['88249'], aliases: ['montelukast', 'singulair'], classes: ['leukotriene_modifier'] },

  // Bladder (BL-1)
  { name: 'oxybutynin', rxnorm: ['32675'], aliases: ['oxybutynin', 'ditropan'], classes: ['bladder_antimuscarinic'] },
  {
    name: 'solifenacin',
    rxnorm: ['322167'],
    aliases: ['solifenacin', 'vesicare'],
    classes: ['bladder_antimuscarinic'],
  },
  { name: 'tolterodine', rxnorm: ['119565'], aliases: ['tolterodine', 'detrol'], classes: ['bladder_antimuscarinic'] },
  { name: 'trospium', rxnorm: [], aliases: ['trospium'], classes: ['bladder_antimuscarinic'] },
  { name: 'darifenacin', rxnorm: [], aliases: ['darifenacin', 'enablex'], classes: ['bladder_antimuscarinic'] },
  { name: 'fesoterodine', rxnorm: [], aliases: ['fesoterodine', 'toviaz'], classes: ['bladder_antimuscarinic'] },
  { name: 'mirabegron', rxnorm: ['1300786'], aliases: ['mirabegron', 'myrbetriq'], classes: ['beta3_agonist'] },

  // Seasonal allergy, EpiPen (AL-1)
  { name: 'cetirizine', rxnorm: ['20610'], aliases: ['cetirizine', 'zyrtec'], classes: ['antihistamine'] },
  { name: 'levocetirizine', rxnorm: ['356887'], aliases: ['levocetirizine', 'xyzal'], classes: ['antihistamine'] },
  { name: 'loratadine', rxnorm: ['28889'], aliases: ['loratadine', 'claritin'], classes: ['antihistamine'] },
  { name: 'desloratadine', rxnorm: ['275635'], aliases: ['desloratadine', 'clarinex'], classes: ['antihistamine'] },
  { name: 'fexofenadine', rxnorm: ['87636'], aliases: ['fexofenadine', 'allegra'], classes: ['antihistamine'] },
  { name: 'azelastine', rxnorm: [], aliases: ['azelastine', 'astelin', 'astepro'], classes: ['antihistamine'] },
  { name: 'olopatadine', rxnorm: [], aliases: ['olopatadine', 'patanol', 'pataday'], classes: ['antihistamine'] },
  {
    name: 'epinephrine',
    rxnorm: ['3992'],
    aliases: ['epinephrine', 'adrenaline'],
    classes: [],
    byForm: { autoinjector: ['epinephrine_autoinjector'] },
  },

  // Antibiotics (AL-1 dental prophylaxis only; otherwise not in the reference protocol)
  { name: 'amoxicillin', rxnorm: ['723'], aliases: ['amoxicillin', 'amoxil'], classes: ['antibiotic'] },
  { name: 'clavulanate', rxnorm: ['48203'], aliases: ['clavulanate', 'clavulanic acid'], classes: ['antibiotic'] },
  { name: 'clindamycin', rxnorm: ['2582'], aliases: ['clindamycin', 'cleocin'], classes: ['antibiotic'] },
  { name: 'azithromycin', rxnorm: ['18631'], aliases: ['azithromycin', 'zithromax'], classes: ['antibiotic'] },
  { name: 'cephalexin', rxnorm: ['2231'], aliases: ['cephalexin', 'keflex'], classes: ['antibiotic'] },
  { name: 'penicillin v', rxnorm: [], aliases: ['penicillin v', 'penicillin vk'], classes: ['antibiotic'] },
  { name: 'doxycycline', rxnorm: ['3640'], aliases: ['doxycycline'], classes: ['antibiotic'] },
  { name: 'ciprofloxacin', rxnorm: ['2551'], aliases: ['ciprofloxacin', 'cipro'], classes: ['antibiotic'] },
  { name: 'nitrofurantoin', rxnorm: ['7454'], aliases: ['nitrofurantoin', 'macrobid'], classes: ['antibiotic'] },
  { name: 'sulfamethoxazole', rxnorm: ['10180'], aliases: ['sulfamethoxazole'], classes: ['antibiotic'] },
  { name: 'trimethoprim', rxnorm: ['10829'], aliases: ['trimethoprim'], classes: ['antibiotic'] },

  // Diabetes (DM-1..4)
  { name: 'metformin', rxnorm: ['6809'], aliases: ['metformin', 'glucophage'], classes: ['antidiabetic'] },
  { name: 'glipizide', rxnorm: ['4821'], aliases: ['glipizide', 'glucotrol'], classes: ['antidiabetic'] },
  { name: 'glimepiride', rxnorm: ['25789'], aliases: ['glimepiride', 'amaryl'], classes: ['antidiabetic'] },
  { name: 'glyburide', rxnorm: ['4815'], aliases: ['glyburide', 'glibenclamide'], classes: ['antidiabetic'] },
  { name: 'sitagliptin', rxnorm: ['593411'], aliases: ['sitagliptin', 'januvia'], classes: ['antidiabetic'] },
  { name: 'linagliptin', rxnorm: ['1100699'], aliases: ['linagliptin', 'tradjenta'], classes: ['antidiabetic'] },
  { name: 'empagliflozin', rxnorm: ['1545653'], aliases: ['empagliflozin', 'jardiance'], classes: ['antidiabetic'] },
  { name: 'dapagliflozin', rxnorm: ['1488564'], aliases: ['dapagliflozin', 'farxiga'], classes: ['antidiabetic'] },
  { name: 'canagliflozin', rxnorm: ['1373458'], aliases: ['canagliflozin', 'invokana'], classes: ['antidiabetic'] },
  { name: 'pioglitazone', rxnorm: ['33738'], aliases: ['pioglitazone', 'actos'], classes: ['antidiabetic'] },
  { name: 'liraglutide', rxnorm: ['475968'], aliases: ['liraglutide', 'victoza'], classes: ['antidiabetic'] },
  {
    name: 'semaglutide',
    rxnorm: ['1991302'],
    aliases: ['semaglutide', 'ozempic', 'rybelsus'],
    classes: ['antidiabetic'],
  },
  { name: 'dulaglutide', rxnorm: ['1551291'], aliases: ['dulaglutide', 'trulicity'], classes: ['antidiabetic'] },
  {
    name: 'insulin glargine',
    rxnorm: ['274783'],
    aliases: ['insulin glargine', 'lantus', 'basaglar', 'toujeo'],
    classes: ['antidiabetic', 'insulin'],
  },
  {
    name: 'insulin lispro',
    rxnorm: ['86009'],
    aliases: ['insulin lispro', 'humalog'],
    classes: ['antidiabetic', 'insulin'],
  },
  {
    name: 'insulin aspart',
    rxnorm: ['51428'],
    aliases: ['insulin aspart', 'novolog'],
    classes: ['antidiabetic', 'insulin'],
  },
  {
    name: 'insulin detemir',
    rxnorm: ['139825'],
    aliases: ['insulin detemir', 'levemir'],
    classes: ['antidiabetic', 'insulin'],
  },
  {
    name: 'insulin degludec',
    rxnorm: [],
    aliases: ['insulin degludec', 'tresiba'],
    classes: ['antidiabetic', 'insulin'],
  },
  {
    name: 'insulin regular',
    rxnorm: [],
    aliases: ['insulin regular', 'regular insulin', 'insulin, regular', 'humulin r', 'novolin r'],
    classes: ['antidiabetic', 'insulin'],
  },
  {
    name: 'insulin isophane',
    rxnorm: [],
    aliases: ['insulin isophane', 'nph insulin', 'insulin nph', 'humulin n', 'novolin n'],
    classes: ['antidiabetic', 'insulin'],
  },
  { name: 'insulin', rxnorm: [], aliases: ['insulin'], classes: ['antidiabetic', 'insulin'] },

  // Common chronic drugs outside the reference protocol (classified so the console can name them; G-1 there)
  { name: 'atorvastatin', rxnorm: ['83367'], aliases: ['atorvastatin', 'lipitor'], classes: ['statin'] },
  { name: 'simvastatin', rxnorm: ['36567'], aliases: ['simvastatin', 'zocor'], classes: ['statin'] },
  { name: 'rosuvastatin', rxnorm: ['301542'], aliases: ['rosuvastatin', 'crestor'], classes: ['statin'] },
  { name: 'pravastatin', rxnorm: ['42463'], aliases: ['pravastatin', 'pravachol'], classes: ['statin'] },
  { name: 'lisinopril', rxnorm: ['29046'], aliases: ['lisinopril', 'zestril', 'prinivil'], classes: ['ace_inhibitor'] },
  { name: 'enalapril', rxnorm: ['3827'], aliases: ['enalapril', 'vasotec'], classes: ['ace_inhibitor'] },
  { name: 'ramipril', rxnorm: ['35296'], aliases: ['ramipril', 'altace'], classes: ['ace_inhibitor'] },
  { name: 'benazepril', rxnorm: [], aliases: ['benazepril', 'lotensin'], classes: ['ace_inhibitor'] },
  { name: 'losartan', rxnorm: ['52175'], aliases: ['losartan', 'cozaar'], classes: ['angiotensin_receptor_blocker'] },
  { name: 'valsartan', rxnorm: ['69749'], aliases: ['valsartan', 'diovan'], classes: ['angiotensin_receptor_blocker'] },
  { name: 'irbesartan', rxnorm: [], aliases: ['irbesartan', 'avapro'], classes: ['angiotensin_receptor_blocker'] },
  { name: 'olmesartan', rxnorm: [], aliases: ['olmesartan', 'benicar'], classes: ['angiotensin_receptor_blocker'] },
  { name: 'amlodipine', rxnorm: ['17767'], aliases: ['amlodipine', 'norvasc'], classes: ['calcium_channel_blocker'] },
  { name: 'metoprolol', rxnorm: ['6918'], aliases: ['metoprolol', 'lopressor', 'toprol'], classes: ['beta_blocker'] },
  {
    name: 'hydrochlorothiazide',
    rxnorm: ['5487'],
    aliases: ['hydrochlorothiazide', 'hctz'],
    classes: ['diuretic', 'thiazide'],
  },
  { name: 'chlorthalidone', rxnorm: ['2409'], aliases: ['chlorthalidone'], classes: ['diuretic', 'thiazide'] },
  { name: 'indapamide', rxnorm: [], aliases: ['indapamide'], classes: ['diuretic', 'thiazide'] },
  { name: 'furosemide', rxnorm: ['4603'], aliases: ['furosemide', 'lasix'], classes: ['diuretic', 'loop_diuretic'] },
  { name: 'bumetanide', rxnorm: ['1808'], aliases: ['bumetanide', 'bumex'], classes: ['diuretic', 'loop_diuretic'] },
  { name: 'torsemide', rxnorm: ['38413'], aliases: ['torsemide', 'demadex'], classes: ['diuretic', 'loop_diuretic'] },
  {
    name: 'levothyroxine',
    rxnorm: ['10582'],
    aliases: ['levothyroxine', 'synthroid', 'levoxyl'],
    classes: ['thyroid_hormone'],
  },

  // Hormonal contraceptives: a contraceptive only by mouth (a patch or ring is another route, another review).
  {
    name: 'ethinyl estradiol',
    rxnorm: ['4124'],
    aliases: ['ethinyl estradiol', 'ethinylestradiol'],
    classes: [],
    byForm: { oral: ['oral_contraceptive'] },
    assumeForm: 'oral',
  },
  {
    name: 'levonorgestrel',
    rxnorm: ['6373'],
    aliases: ['levonorgestrel'],
    classes: [],
    byForm: { oral: ['oral_contraceptive'] },
    assumeForm: 'oral',
  },
  {
    name: 'norethindrone',
    rxnorm: ['7514'],
    aliases: ['norethindrone', 'norethisterone'],
    classes: [],
    byForm: { oral: ['oral_contraceptive'] },
    assumeForm: 'oral',
  },
  {
    name: 'norgestimate',
    rxnorm: [],
    aliases: ['norgestimate'],
    classes: [],
    byForm: { oral: ['oral_contraceptive'] },
    assumeForm: 'oral',
  },
  {
    name: 'drospirenone',
    rxnorm: [],
    aliases: ['drospirenone'],
    classes: [],
    byForm: { oral: ['oral_contraceptive'] },
    assumeForm: 'oral',
  },
  {
    name: 'desogestrel',
    rxnorm: [],
    aliases: ['desogestrel'],
    classes: [],
    byForm: { oral: ['oral_contraceptive'] },
    assumeForm: 'oral',
  },

  // Controlled substances (never approved by protocol)
  {
    name: 'oxycodone',
    rxnorm: ['7804'],
    aliases: ['oxycodone', 'oxycontin', 'percocet', 'roxicodone'],
    classes: ['opioid'],
    schedule: 'CII',
  },
  {
    name: 'hydrocodone',
    rxnorm: ['5489'],
    aliases: ['hydrocodone', 'norco', 'vicodin'],
    classes: ['opioid'],
    schedule: 'CII',
  },
  { name: 'morphine', rxnorm: ['7052'], aliases: ['morphine', 'ms contin'], classes: ['opioid'], schedule: 'CII' },
  {
    name: 'hydromorphone',
    rxnorm: ['3423'],
    aliases: ['hydromorphone', 'dilaudid'],
    classes: ['opioid'],
    schedule: 'CII',
  },
  { name: 'fentanyl', rxnorm: ['4337'], aliases: ['fentanyl', 'duragesic'], classes: ['opioid'], schedule: 'CII' },
  { name: 'methadone', rxnorm: ['6813'], aliases: ['methadone'], classes: ['opioid'], schedule: 'CII' },
  { name: 'oxymorphone', rxnorm: ['7814'], aliases: ['oxymorphone'], classes: ['opioid'], schedule: 'CII' },
  { name: 'tapentadol', rxnorm: ['787390'], aliases: ['tapentadol', 'nucynta'], classes: ['opioid'], schedule: 'CII' },
  // Codeine alone is CII; combinations are CIII/CV. The most restrictive schedule is reported.
  { name: 'codeine', rxnorm: ['2670'], aliases: ['codeine'], classes: ['opioid'], schedule: 'CII' },
  {
    name: 'buprenorphine',
    rxnorm: ['1819'],
    aliases: ['buprenorphine', 'suboxone', 'subutex'],
    classes: ['opioid'],
    schedule: 'CIII',
  },
  { name: 'tramadol', rxnorm: ['10689'], aliases: ['tramadol', 'ultram'], classes: ['opioid'], schedule: 'CIV' },
  {
    name: 'alprazolam',
    rxnorm: ['596'],
    aliases: ['alprazolam', 'xanax'],
    classes: ['benzodiazepine'],
    schedule: 'CIV',
  },
  {
    name: 'lorazepam',
    rxnorm: ['6470'],
    aliases: ['lorazepam', 'ativan'],
    classes: ['benzodiazepine'],
    schedule: 'CIV',
  },
  {
    name: 'clonazepam',
    rxnorm: ['2598'],
    aliases: ['clonazepam', 'klonopin'],
    classes: ['benzodiazepine'],
    schedule: 'CIV',
  },
  { name: 'diazepam', rxnorm: ['3322'], aliases: ['diazepam', 'valium'], classes: ['benzodiazepine'], schedule: 'CIV' },
  {
    name: 'temazepam',
    rxnorm: ['10355'],
    aliases: ['temazepam', 'restoril'],
    classes: ['benzodiazepine'],
    schedule: 'CIV',
  },
  {
    name: 'chlordiazepoxide',
    rxnorm: [],
    aliases: ['chlordiazepoxide', 'librium'],
    classes: ['benzodiazepine'],
    schedule: 'CIV',
  },
  { name: 'triazolam', rxnorm: [], aliases: ['triazolam', 'halcion'], classes: ['benzodiazepine'], schedule: 'CIV' },
  {
    name: 'zolpidem',
    rxnorm: ['39993'],
    aliases: ['zolpidem', 'ambien'],
    classes: ['sedative_hypnotic'],
    schedule: 'CIV',
  },
  {
    name: 'eszopiclone',
    rxnorm: ['461016'],
    aliases: ['eszopiclone', 'lunesta'],
    classes: ['sedative_hypnotic'],
    schedule: 'CIV',
  },
  {
    name: 'zaleplon',
    rxnorm: ['74667'],
    aliases: ['zaleplon', 'sonata'],
    classes: ['sedative_hypnotic'],
    schedule: 'CIV',
  },
  {
    name: 'suvorexant',
    rxnorm: [],
    aliases: ['suvorexant', 'belsomra'],
    classes: ['sedative_hypnotic'],
    schedule: 'CIV',
  },
  {
    name: 'amphetamine',
    rxnorm: ['725'],
    aliases: ['amphetamine', 'adderall'],
    classes: ['stimulant'],
    schedule: 'CII',
  },
  {
    name: 'dextroamphetamine',
    rxnorm: ['3288'],
    aliases: ['dextroamphetamine', 'dexedrine'],
    classes: ['stimulant'],
    schedule: 'CII',
  },
  {
    name: 'lisdexamfetamine',
    rxnorm: ['700810'],
    aliases: ['lisdexamfetamine', 'vyvanse'],
    classes: ['stimulant'],
    schedule: 'CII',
  },
  {
    name: 'methylphenidate',
    rxnorm: ['6901'],
    aliases: ['methylphenidate', 'ritalin', 'concerta'],
    classes: ['stimulant'],
    schedule: 'CII',
  },
  {
    name: 'dexmethylphenidate',
    rxnorm: [],
    aliases: ['dexmethylphenidate', 'focalin'],
    classes: ['stimulant'],
    schedule: 'CII',
  },
  { name: 'modafinil', rxnorm: ['30125'], aliases: ['modafinil', 'provigil'], classes: ['stimulant'], schedule: 'CIV' },
  { name: 'armodafinil', rxnorm: [], aliases: ['armodafinil', 'nuvigil'], classes: ['stimulant'], schedule: 'CIV' },
  {
    name: 'phentermine',
    rxnorm: ['8152'],
    aliases: ['phentermine', 'adipex'],
    classes: ['anorectic'],
    schedule: 'CIV',
  },
  {
    name: 'testosterone',
    rxnorm: ['10379'],
    aliases: ['testosterone', 'androgel'],
    classes: ['androgen'],
    schedule: 'CIII',
  },
  { name: 'oxandrolone', rxnorm: [], aliases: ['oxandrolone'], classes: ['androgen'], schedule: 'CIII' },
  { name: 'nandrolone', rxnorm: [], aliases: ['nandrolone'], classes: ['androgen'], schedule: 'CIII' },
  {
    name: 'phenobarbital',
    rxnorm: ['8134'],
    aliases: ['phenobarbital'],
    classes: ['barbiturate', 'anticonvulsant'],
    schedule: 'CIV',
  },
  {
    name: 'butalbital',
    rxnorm: [],
    aliases: ['butalbital', 'fioricet', 'fiorinal'],
    classes: ['barbiturate'],
    schedule: 'CIII',
  },
  {
    name: 'carisoprodol',
    rxnorm: ['2101'],
    aliases: ['carisoprodol', 'soma'],
    classes: ['muscle_relaxant'],
    schedule: 'CIV',
  },
  { name: 'dronabinol', rxnorm: [], aliases: ['dronabinol', 'marinol'], classes: ['cannabinoid'], schedule: 'CIII' },
  {
    name: 'diphenoxylate',
    rxnorm: [],
    aliases: ['diphenoxylate', 'lomotil'],
    classes: ['antidiarrheal'],
    schedule: 'CV',
  },
];

/** Brand names that stand for a combination, or that imply a route the generic name does not (Flonase is nasal). */
export interface BrandEntry {
  readonly alias: string;
  readonly ingredients: readonly string[];
  readonly form?: DoseForm;
}

export const BRANDS: readonly BrandEntry[] = [
  { alias: 'flonase', ingredients: ['fluticasone'], form: 'nasal' },
  { alias: 'flovent', ingredients: ['fluticasone'], form: 'inhalation' },
  { alias: 'arnuity', ingredients: ['fluticasone'], form: 'inhalation' },
  { alias: 'pulmicort', ingredients: ['budesonide'], form: 'inhalation' },
  { alias: 'rhinocort', ingredients: ['budesonide'], form: 'nasal' },
  { alias: 'entocort', ingredients: ['budesonide'], form: 'oral' },
  { alias: 'asmanex', ingredients: ['mometasone'], form: 'inhalation' },
  { alias: 'nasonex', ingredients: ['mometasone'], form: 'nasal' },
  { alias: 'qvar', ingredients: ['beclomethasone'], form: 'inhalation' },
  { alias: 'beconase', ingredients: ['beclomethasone'], form: 'nasal' },
  { alias: 'alvesco', ingredients: ['ciclesonide'], form: 'inhalation' },
  { alias: 'omnaris', ingredients: ['ciclesonide'], form: 'nasal' },
  { alias: 'nasacort', ingredients: ['triamcinolone'], form: 'nasal' },
  { alias: 'advair', ingredients: ['fluticasone', 'salmeterol'], form: 'inhalation' },
  { alias: 'wixela', ingredients: ['fluticasone', 'salmeterol'], form: 'inhalation' },
  { alias: 'symbicort', ingredients: ['budesonide', 'formoterol'], form: 'inhalation' },
  { alias: 'breo', ingredients: ['fluticasone', 'vilanterol'], form: 'inhalation' },
  { alias: 'dulera', ingredients: ['mometasone', 'formoterol'], form: 'inhalation' },
  { alias: 'combivent', ingredients: ['ipratropium', 'albuterol'], form: 'inhalation' },
  { alias: 'epipen', ingredients: ['epinephrine'], form: 'autoinjector' },
  { alias: 'auvi-q', ingredients: ['epinephrine'], form: 'autoinjector' },
  { alias: 'adrenaclick', ingredients: ['epinephrine'], form: 'autoinjector' },
  { alias: 'symjepi', ingredients: ['epinephrine'], form: 'autoinjector' },
  { alias: 'augmentin', ingredients: ['amoxicillin', 'clavulanate'] },
  { alias: 'bactrim', ingredients: ['sulfamethoxazole', 'trimethoprim'] },
  { alias: 'janumet', ingredients: ['sitagliptin', 'metformin'] },
  { alias: 'synjardy', ingredients: ['empagliflozin', 'metformin'] },
  { alias: 'vimovo', ingredients: ['naproxen', 'esomeprazole'] },
  { alias: 'tylenol with codeine', ingredients: ['codeine'] },
];

/**
 * Common clinical drug (SCD) codes, mapped to their ingredients (and route). Only codes that were checked are listed;
 * anything else coded as an SCD is classified from its display text, which RxNorm spells out ("sertraline 50 MG Oral
 * Tablet").
 */
export const CLINICAL_DRUGS: Readonly<Record<string, { ingredients: readonly string[]; form?: DoseForm }>> = {
  '861007': { ingredients: ['metformin'], form: 'oral' },
  '309362': { ingredients: ['clopidogrel'], form: 'oral' },
  '855332': { ingredients: ['warfarin'], form: 'oral' },
  '312940': { ingredients: ['sertraline'], form: 'oral' },
  '312941': { ingredients: ['sertraline'], form: 'oral' },
  '745679': { ingredients: ['albuterol'], form: 'inhalation' },
};
